"""``zuul-log-streamer``: live console logs of running builds over websocket."""
from __future__ import annotations

import argparse

from aiohttp import web

from zuul.lib.service import run_service
from zuul.streamer import config
from zuul.streamer.app import build_app


def _build(args: argparse.Namespace) -> tuple[web.Application, str, int]:
    conf = config.load(args.config)
    return build_app(conf), conf["api"]["listen"], conf["api"]["port"]


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    run_service(argv, "zuul-log-streamer", "Stream build console logs over websocket.",
                config.DEFAULT_PATH, _build)
