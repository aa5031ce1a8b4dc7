"""``zuul-webhook``: a GitHub webhook worker (verify, spool, push into gearman)."""
from __future__ import annotations

import argparse
import sys

from aiohttp import web

from zuul.lib.service import run_service
from zuul.webhook import config
from zuul.webhook.service import WebhookService

SWITCH_INTERVAL = 0.0005


def _build(args: argparse.Namespace) -> tuple[web.Application, str, int]:
    conf = config.load(args.config)
    return WebhookService(conf).make_app(), conf["api"]["listen"], conf["api"]["port"]


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    # gear answers arrive on its poll thread and submissions run in a worker thread: with
    # the event loop busy serving requests, each hand-over would otherwise wait up to the
    # default 5 ms GIL switch interval, capping submissions at ~100-200 events/s.
    sys.setswitchinterval(SWITCH_INTERVAL)
    run_service(argv, "zuul-webhook", "Receive GitHub webhooks and push them to the scheduler.",
                config.DEFAULT_PATH, _build)
