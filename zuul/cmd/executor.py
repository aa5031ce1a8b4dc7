"""``zuul-executor``: runs builds requested through ZooKeeper."""
from __future__ import annotations

import argparse

from aiohttp import web

from zuul.executor import config
from zuul.executor.server import ExecutorServer
from zuul.lib.service import run_service


def _build(args: argparse.Namespace) -> tuple[web.Application, str, int]:
    conf = config.load(args.config)
    return ExecutorServer(conf).make_app(), conf["api"]["listen"], conf["api"]["port"]


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    run_service(argv, "zuul-executor", "Run builds requested by the Zuul schedulers.",
                config.DEFAULT_PATH, _build)
