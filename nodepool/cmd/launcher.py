"""``nodepool-launcher``: the launcher with its in-process API."""
from __future__ import annotations

import argparse

from aiohttp import web

from nodepool.launcher import config
from nodepool.launcher.service import LauncherService
from zuul.lib.service import run_service


def _build(args: argparse.Namespace) -> tuple[web.Application, str, int]:
    conf = config.load(args.config)
    service = LauncherService(conf, str(args.config))
    return service.make_app(), conf["api"]["listen"], conf["api"]["port"]


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    run_service(argv, "nodepool-launcher", "Run the Nodepool launcher and its API.",
                config.DEFAULT_PATH, _build)
