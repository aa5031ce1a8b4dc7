"""Webhook workers leaving and coming back behind Apache, seen by a client that never retries.

Apache checks each worker's ``/health/ready`` (mod_proxy_hcheck, every second): a worker that
is draining after SIGTERM or cannot spool leaves the rotation, and comes back once ready.
Every delivery answered 200 must reach the scheduler.
"""
from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest

from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.servers import ApacheServer, HTTPService, write_yaml
from tests.harness.stack import Stack
from tests.webhook.conftest import (
    deliveries_db,
    fixture_body,
    processed_deliveries,
    send,
    start_worker,
    worker_config,
)

BODY = fixture_body("pull_request")
# Long enough for Apache's health check (hcinterval 1 s) to see the worker unready before
# its listener closes.
DRAIN = {"drain_delay": 3}


def _hc_lines(apache: ApacheServer, action: str, worker: HTTPService) -> int:
    """How often Apache's health check has switched ``worker`` (ENABLING or DISABLING)."""
    return apache.error_log().count(f"Health check {action} http://127.0.0.1:{worker.port}")


def _accepted_by(worker: HTTPService) -> float:
    """Deliveries ``worker`` answered 200 since it started (its own metric)."""
    for line in get(worker.url + "/metrics").text.splitlines():
        if line.startswith('zuul_webhook_requests_total{code="200",connection="github"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Client:
    """Threads sending signed deliveries back to back; one attempt each, never a retry."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.results: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop.is_set():
            delivery = str(uuid.uuid4())
            try:
                status = send(self.url, BODY, "pull_request", delivery).status
            except OSError as exc:  # connection refused or reset: a failed delivery too
                status = -1
                delivery = f"{delivery} {exc}"
            with self.lock:
                self.results.append((delivery, status))

    def __enter__(self) -> Client:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def count(self) -> int:
        with self.lock:
            return len(self.results)


@pytest.mark.slow
def test_rolling_restart_fails_no_delivery(stack: Stack) -> None:
    geard = stack.gearman(nodelay=True)
    scheduler = stack.scheduler(geard)
    workers = [start_worker(stack, geard, f"webhook-{i}", **DRAIN) for i in (1, 2)]
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                                "webhook": [f"127.0.0.1:{w.port}" for w in workers]})
    with Client(f"{apache.url}/zuul/webhook/github") as client:
        wait_for(lambda: all(_accepted_by(w) >= 5 for w in workers), 30,
                 what="traffic on both workers")
        for worker in workers:
            disabled = _hc_lines(apache, "DISABLING", worker)
            enabled = _hc_lines(apache, "ENABLING", worker)
            worker.stop()  # SIGTERM mid-traffic: drains, finishes what it started, leaves
            assert _hc_lines(apache, "DISABLING", worker) > disabled, \
                "Apache's health check took the draining worker out"
            worker.start()
            wait_for(lambda w=worker, n=enabled: _hc_lines(apache, "ENABLING", w) > n, 15,
                     what=f"Apache's health check putting {worker.name} back")
            wait_for(lambda w=worker: _accepted_by(w) >= 5, 30,
                     what=f"traffic on the restarted {worker.name}")
        sent = client.count()
    statuses = Counter(status for _, status in client.results)
    assert set(statuses) == {200}, statuses
    assert sent >= 50, statuses
    db = deliveries_db(stack)
    accepted = {delivery for delivery, _ in client.results}
    wait_for(lambda: accepted <= set(processed_deliveries(db)), 60,
             what="every accepted delivery processed by the scheduler")


def test_worker_that_cannot_spool_leaves_the_rotation(stack: Stack) -> None:
    geard = stack.gearman(nodelay=True)
    scheduler = stack.scheduler(geard)
    # webhook-1's spool "disk" never has room: it answers 503 and is not ready.
    full = start_worker(stack, geard, "webhook-1", spool_min_free_bytes=2**62)
    healthy = start_worker(stack, geard, "webhook-2")
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                                "webhook": [f"127.0.0.1:{full.port}",
                                            f"127.0.0.1:{healthy.port}"]})
    assert get(full.url + "/health/ready").status == 503
    wait_for(lambda: _hc_lines(apache, "DISABLING", full) > 0, 15,
             what="Apache's health check taking the full worker out")
    url = f"{apache.url}/zuul/webhook/github"
    statuses = Counter(send(url, BODY, "pull_request").status for _ in range(60))
    assert statuses == Counter({200: 60})
    assert _accepted_by(healthy) == 60
    # Room again (here: a restart with a sane limit): back in the rotation.
    write_yaml(full.config_path, {**worker_config(stack, geard.conf(), "webhook-1"),
                                  "api": {"listen": "127.0.0.1", "port": full.port}})
    full.restart()
    wait_for(lambda: _hc_lines(apache, "ENABLING", full) > 0, 15,
             what="Apache's health check putting the worker back")
    wait_for(lambda: send(url, BODY, "pull_request").status == 200 and _accepted_by(full) > 0,
             15, what="deliveries on the worker that has room again")
