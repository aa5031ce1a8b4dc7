"""Every event type GitHub documents, correctly signed, through Apache: 200, or 202 when the
connection does not enable it (samples from npm, see tests/webhook/github_events.py)."""
from __future__ import annotations

import json
import uuid

import pytest

from tests.harness.stack import Stack
from tests.webhook.conftest import send, spooled, start_worker
from tests.webhook.github_events import github_events


@pytest.fixture(scope="module")
def events() -> dict[str, bytes]:
    return github_events()


def test_every_documented_event_type_is_accepted(stack: Stack,
                                                 events: dict[str, bytes]) -> None:
    assert len(events) >= 60, sorted(events)
    assert {"projects_v2_item", "projects_v2", "projects_v2_status_update", "pull_request",
            "check_run", "merge_group"} <= set(events)
    geard = stack.gearman(nodelay=True)
    worker = start_worker(stack, geard)
    apache = stack.apache(zuul={"scheduler": "127.0.0.1:9",
                                "webhook": [f"127.0.0.1:{worker.port}"]})
    base = f"{apache.url}/zuul/webhook"
    enabled = {"pull_request", "push"}  # the "legacy" connection's allowed_events
    answers: dict[str, tuple[int, int]] = {}
    for event, body in events.items():
        everything = send(f"{base}/github", body, event=event, delivery=str(uuid.uuid4()))
        limited = send(f"{base}/legacy", body, event=event, delivery=str(uuid.uuid4()))
        answers[event] = (everything.status, limited.status)
        expected = "pong" if event == "ping" else "accepted"
        assert everything.json()["status"] == expected, (event, everything.text)
        if event != "ping" and event not in enabled:
            assert limited.json()["status"] == "ignored", (event, limited.text)
    wrong = {event: got for event, got in answers.items()
             if got != (200, 200 if event in enabled | {"ping"} else 202)}
    assert not wrong, wrong
    stored = {json.loads(line)["event"] for path in spooled(worker)
              for line in path.read_bytes().splitlines()}
    assert stored == set(events) - {"ping"}
