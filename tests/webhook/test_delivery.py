"""Events through Apache and two workers into the real scheduler; spool replay and limits."""
from __future__ import annotations

import subprocess
import uuid

from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.servers import GearmanServer, console_script
from tests.harness.stack import Stack
from tests.webhook.conftest import (
    EVENTS,
    FIXTURES,
    SECRET,
    deliveries_db,
    fixture_body,
    gearman_jobs,
    processed_deliveries,
    send,
    spooled,
    start_worker,
    submissions,
)


def _webhook_send(url: str, event: str, delivery: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("zuul"), "webhook-send", "--secret", SECRET, url,
         str(FIXTURES / f"{event}.json"), "--event", event, "--delivery", delivery],
        capture_output=True, text=True, timeout=60)


def test_sample_events_reach_scheduler_once(stack: Stack) -> None:
    geard = stack.gearman(nodelay=True)
    scheduler = stack.scheduler(geard)
    workers = [start_worker(stack, geard, f"webhook-{i}") for i in (1, 2)]
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                                "webhook": [f"127.0.0.1:{w.port}" for w in workers]})
    url = f"{apache.url}/zuul/webhook/github"
    sent = {}
    for event in EVENTS:
        delivery = str(uuid.uuid4())
        result = _webhook_send(url, event, delivery)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith(f"200 delivery={delivery}"), result.stdout
        sent[delivery] = event
    # GitHub redelivers with the same id: accepted again, processed once.
    first = next(iter(sent))
    assert send(url, fixture_body(sent[first]), sent[first], first).status == 200
    db = deliveries_db(stack)
    wait_for(lambda: set(sent) <= set(processed_deliveries(db)), 15, what="events processed")
    wait_for(lambda: not any(spooled(w) for w in workers), 15, what="spools drained")
    assert sorted(processed_deliveries(db)) == sorted(sent)
    # Both workers took traffic (byrequests balancing).
    for worker in workers:
        assert 'zuul_webhook_requests_total{code="200",connection="github"}' in \
            get(worker.url + "/metrics").text
    metrics = get(scheduler.url + "/metrics").text
    assert 'zuul_trigger_events_total{connection="github",status="duplicate"} 1.0' in metrics


def test_spool_replayed_after_gearman_outage_and_restart(stack: Stack) -> None:
    # Not started yet: gearman is down.
    gearman_port_holder = GearmanServer(stack.workdir, nodelay=True)
    worker = start_worker(stack, gearman_port_holder)
    url = f"{worker.url}/webhook/github"
    ready = get(worker.url + "/health/ready")
    assert ready.status == 503 and "gearman" in ready.json()["description"]
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for delivery in ids:
        assert send(url, fixture_body("push"), "push", delivery).status == 200
    assert len(spooled(worker)) == 5
    worker.kill()                       # crash with everything still spooled
    geard = stack.add(gearman_port_holder)
    stack.scheduler(geard)
    worker.start()                      # replays its spool
    db = deliveries_db(stack)
    wait_for(lambda: set(ids) <= set(processed_deliveries(db)), 20, what="replayed events")
    wait_for(lambda: not spooled(worker), 10, what="spool drained")
    wait_for(lambda: get(worker.url + "/health/ready").status == 200, 10, what="ready")
    assert sorted(processed_deliveries(db)) == sorted(ids)
    # The replay waited for gear's connection instead of failing its first attempt, and
    # the five were waiting together: one gearman job carried them all.
    assert submissions(worker.url, "retry") == 0
    assert submissions(worker.url, "accepted") == 5 and gearman_jobs(worker.url) == 1


def test_full_spool_answers_503(stack: Stack) -> None:
    down = GearmanServer(stack.workdir, nodelay=True)  # never started
    worker = start_worker(stack, down, spool_max_events=3)
    url = f"{worker.url}/webhook/github"
    for _ in range(3):
        assert send(url, fixture_body("push"), "push").status == 200
    full = send(url, fixture_body("push"), "push")
    assert full.status == 503 and full.headers["Retry-After"].isdigit()
    assert full.json()["error"] == "spool_full"
    assert len(spooled(worker)) == 3
    assert get(worker.url + "/health/live").status == 200
    assert get(worker.url + "/health/ready").status == 503


def test_config_errors_are_one_line(stack: Stack) -> None:
    cases = {
        "connections:\n  github: {}\ngearman: {servers: ['127.0.0.1:1']}\nspool_dir: /tmp/x\n":
            "connections.github.secret",
        "connections:\n  github: {secret: s, max_body_bytes: -1}\n"
        "gearman: {servers: ['127.0.0.1:1']}\nspool_dir: /tmp/x\n":
            "connections.github.max_body_bytes",
        "connections: {github: {secret: s}}\ngearman: {servers: ['127.0.0.1:1']}\n"
        "spool_dir: /tmp/x\nspool: 1\n": "spool",
    }
    for i, (text, key) in enumerate(cases.items()):
        path = stack.workdir / f"bad-{i}.yaml"
        path.write_text(text)
        result = subprocess.run([console_script("zuul-webhook"), "-c", str(path)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and key in lines[0], result.stderr


def test_webhook_send_errors(stack: Stack) -> None:
    missing = subprocess.run(
        [console_script("zuul"), "webhook-send", "--secret", "s", "http://127.0.0.1:9/x",
         str(stack.workdir / "nope.json"), "--event", "push"],
        capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and missing.stderr.startswith("error: cannot read payload")
    refused = _webhook_send("http://127.0.0.1:9/webhook/github", "push", "d-1")
    assert refused.returncode == 1 and refused.stderr.startswith("error: cannot POST")
    assert "Traceback" not in missing.stderr + refused.stderr
