"""The webhook worker's configuration (``/etc/zuul/webhook.yaml``).

Example::

    api: {listen: 127.0.0.1, port: 9001}
    gearman: {servers: ["127.0.0.1:4730"]}
    zookeeper: {hosts: ["127.0.0.1:2281"], tls: {...}}   # optional: component registry
    spool_dir: /var/lib/zuul/webhook-spool
    spool_max_bytes: 1073741824
    spool_max_events: 100000
    spool_min_free_bytes: 67108864
    max_body_readers: 4
    body_timeout: 60
    drain_delay: 5
    drain_timeout: 60
    connections:
      github:
        secret: "the webhook secret configured in GitHub"
        allowed_events: [pull_request, issue_comment, push, pull_request_review]
        max_body_bytes: 26214400
        allow_sha1: false
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.lib.config import (
    GEARMAN_SCHEMA,
    ZOOKEEPER_SCHEMA,
    NonEmptyStr,
    listen_schema,
    load_config,
)
from zuul.lib.event_jobs import MAX_EVENTS
from zuul.webhook.verify import EVENT_NAME

DEFAULT_PATH = "/etc/zuul/webhook.yaml"
DEFAULT_PORT = 9001
# GitHub caps webhook payloads at 25 MB.
DEFAULT_MAX_BODY = 25 * 1024 * 1024

_CONNECTION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _connection_name(value: Any) -> str:
    if not isinstance(value, str) or not _CONNECTION_NAME.match(value):
        raise vol.Invalid("connection names are 1-64 letters, digits, '_', '.' or '-'")
    return value


def _event_name(value: Any) -> str:
    if not isinstance(value, str) or not EVENT_NAME.match(value):
        raise vol.Invalid("expected a GitHub event name such as pull_request")
    return value


PositiveInt = vol.All(int, vol.Range(min=1), msg="expected a positive integer")
PositiveFloat = vol.All(vol.Coerce(float), vol.Range(min=0.001), msg="expected a positive number")

CONNECTION_SCHEMA = vol.Schema(
    {
        vol.Required("secret"): NonEmptyStr,
        # Empty list: every event type is accepted.
        vol.Optional("allowed_events", default=[]): [_event_name],
        vol.Optional("max_body_bytes", default=DEFAULT_MAX_BODY): PositiveInt,
        vol.Optional("allow_sha1", default=False): bool,
    }
)

SUBMIT_SCHEMA = vol.Schema(
    {
        # Gearman jobs waiting for the scheduler's answer at any one time ...
        vol.Optional("max_in_flight", default=8): PositiveInt,
        # ... each carrying what waits, up to this many events and bytes (one event at least).
        vol.Optional("batch_events", default=64): vol.All(
            int, vol.Range(min=1, max=MAX_EVENTS), msg=f"expected 1 to {MAX_EVENTS}"),
        vol.Optional("batch_bytes", default=1024 * 1024): PositiveInt,
        # Backoff between attempts while gearman or the scheduler is away.
        vol.Optional("retry_initial", default=0.2): PositiveFloat,
        vol.Optional("retry_max", default=5.0): PositiveFloat,
        # A job with no answer after this long is submitted again (dedup makes it harmless).
        vol.Optional("job_timeout", default=300.0): PositiveFloat,
    }
)

SCHEMA = vol.Schema(
    {
        vol.Optional("api", default={}): listen_schema(DEFAULT_PORT),
        vol.Required("gearman"): GEARMAN_SCHEMA,
        # Optional: the worker registers in Zuul's component registry (GET /api/components).
        vol.Optional("zookeeper"): ZOOKEEPER_SCHEMA,
        vol.Required("spool_dir"): NonEmptyStr,
        vol.Optional("spool_max_bytes", default=1024 * 1024 * 1024): PositiveInt,
        vol.Optional("spool_max_events", default=100_000): PositiveInt,
        # Below this much free disk the worker is not ready and answers 503.
        vol.Optional("spool_min_free_bytes", default=64 * 1024 * 1024): vol.All(
            int, vol.Range(min=0), msg="expected a byte count >= 0"),
        vol.Optional("submit", default={}): SUBMIT_SCHEMA,
        # Request bodies read at once; the rest wait (their bytes stay in the kernel and
        # Apache). Unauthenticated memory is at most max_body_readers x max_body_bytes.
        vol.Optional("max_body_readers", default=4): PositiveInt,
        # Seconds a client has to send its whole body once reading began (else 408).
        vol.Optional("body_timeout", default=60.0): PositiveFloat,
        # On SIGTERM: /health/ready answers 503 for drain_delay seconds while requests are
        # still served (the balancer's health check takes the worker out), then the
        # listener closes and requests already started get up to drain_timeout to finish.
        vol.Optional("drain_delay", default=5.0): vol.All(
            vol.Coerce(float), vol.Range(min=0), msg="expected a number of seconds >= 0"),
        vol.Optional("drain_timeout", default=60.0): PositiveFloat,
        vol.Required("connections"): vol.All(
            {_connection_name: CONNECTION_SCHEMA},
            vol.Length(min=1, msg="expected at least one connection")),
    }
)


def load(path: str | Path) -> dict[str, Any]:
    """Load and validate ``webhook.yaml``; errors are one-line ConfigErrors."""
    return load_config(path, SCHEMA)
