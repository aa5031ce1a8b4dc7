"""``zuul-scheduler``: the scheduler with its in-process API."""
from __future__ import annotations

import argparse

from aiohttp import web

from zuul.lib.service import run_service
from zuul.scheduler import config
from zuul.scheduler.service import SchedulerService

SERVICE = web.AppKey("service", SchedulerService)


def _build(args: argparse.Namespace) -> tuple[web.Application, str, int]:
    conf = config.load(args.config)
    service = SchedulerService(conf)
    app = service.make_app()
    app[SERVICE] = service
    return app, conf["api"]["listen"], conf["api"]["port"]


async def _reload(app: web.Application) -> None:
    await app[SERVICE].reload()


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    run_service(argv, "zuul-scheduler", "Run the Zuul scheduler and its API.",
                config.DEFAULT_PATH, _build, on_reload=_reload)
