"""``zuul-webhook``: a GitHub webhook worker (verify, spool, push into gearman)."""
from __future__ import annotations

import argparse

from aiohttp import web

from zuul.lib.service import run_service
from zuul.webhook import config
from zuul.webhook.service import WebhookService


def _build(args: argparse.Namespace) -> tuple[web.Application, str, int]:
    conf = config.load(args.config)
    return WebhookService(conf).make_app(), conf["api"]["listen"], conf["api"]["port"]


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    run_service(argv, "zuul-webhook", "Receive GitHub webhooks and push them to the scheduler.",
                config.DEFAULT_PATH, _build)
