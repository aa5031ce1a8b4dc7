"""Helpers for the webhook tests: worker configs, signed requests, the scheduler's view."""
from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.http import Response, get, request
from tests.harness.servers import GearmanServer, HTTPService
from tests.harness.stack import Stack
from zuul.cli.webhook_send import signed_headers

SECRET = "webhook-test-secret"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EVENTS = ("pull_request", "issue_comment", "push", "pull_request_review")


def fixture_body(event: str) -> bytes:
    """The sample payload for ``event`` from tests/fixtures/."""
    return (FIXTURES / f"{event}.json").read_bytes()


def worker_config(stack: Stack, servers: list[str] | dict[str, Any], name: str,
                  **overrides: Any) -> dict[str, Any]:
    """A ``webhook.yaml`` for worker ``name``: connections ``github`` and ``legacy`` (SHA-1).

    ``servers``: gearman addresses, or a whole ``gearman:`` section (with TLS files).
    """
    conf: dict[str, Any] = {
        "gearman": servers if isinstance(servers, dict) else {"servers": servers},
        "spool_dir": str(stack.workdir / f"{name}-spool"),
        "submit": {"retry_initial": 0.05, "retry_max": 0.5},
        # Tests stop workers often: a short not-ready period before leaving (no balancer
        # health check to wait for unless a test sets its own).
        "drain_delay": 0.3,
        "connections": {
            "github": {"secret": SECRET, "max_body_bytes": 1024 * 1024},
            "legacy": {"secret": SECRET, "allow_sha1": True,
                       "allowed_events": ["pull_request", "push"]},
        },
    }
    conf.update(overrides)
    return conf


def start_worker(stack: Stack, gearman: GearmanServer | list[str], name: str = "webhook-1",
                 **overrides: Any) -> HTTPService:
    """Start one ``zuul-webhook`` worker against ``gearman``."""
    servers = {"servers": gearman} if isinstance(gearman, list) else gearman.conf()
    return stack.service(name, "zuul-webhook", worker_config(stack, servers, name, **overrides))


def spooled(worker: HTTPService, connection: str = "github") -> list[Path]:
    """The worker's spool files for ``connection``."""
    directory = Path(yaml.safe_load(worker.config_path.read_text())["spool_dir"]) / connection
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def send(url: str, body: bytes, event: str = "pull_request", delivery: str | None = None,
         secret: str = SECRET, headers: dict[str, str | None] | None = None) -> Response:
    """POST ``body`` as a signed GitHub delivery; ``headers`` override (None removes one)."""
    all_headers: dict[str, str | None] = dict(
        signed_headers(secret, body, event, delivery or str(uuid.uuid4())))
    all_headers.update(headers or {})
    return request("POST", url, body=body,
                   headers={k: v for k, v in all_headers.items() if v is not None})


def processed_deliveries(db_path: Path) -> list[str]:
    """Delivery ids the scheduler has recorded in its DeliveryStore, oldest first."""
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return [row[0] for row in db.execute("SELECT delivery FROM deliveries ORDER BY seq")]
    except sqlite3.OperationalError:  # the scheduler has not created the table yet
        return []
    finally:
        db.close()


def deliveries_db(stack: Stack) -> Path:
    """The DeliveryStore of a scheduler started by ``stack.scheduler(...)``."""
    return stack.workdir / "scheduler-state" / "deliveries.db"


def submissions(worker_url: str, result: str, connection: str = "github") -> float:
    """A worker's ``zuul_webhook_submissions_total`` for ``result`` (0 when absent)."""
    return _counter(worker_url, "zuul_webhook_submissions_total",
                    {"connection": connection, "result": result})


def gearman_jobs(worker_url: str, connection: str = "github") -> float:
    """A worker's ``zuul_webhook_gearman_jobs_total`` (0 when absent)."""
    return _counter(worker_url, "zuul_webhook_gearman_jobs_total", {"connection": connection})


def _counter(worker_url: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(get(worker_url + "/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0
