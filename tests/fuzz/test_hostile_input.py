"""Hostile input through Apache: deeply nested JSON and unknown methods never give a 5xx.

Every API that parses a JSON body (Zuul's admin actions, Nodepool's hold and delete, a signed
webhook) gets JSON nested 1,000 to 200,000 levels deep; every service gets methods no route
knows. Answers must be 4xx JSON error bodies, and no service may log a traceback.
"""
from __future__ import annotations

import uuid

from tests.fuzz.conftest import ADMIN, FrontDoor
from tests.harness.http import Response, request
from tests.harness.process import ManagedProcess
from tests.webhook.conftest import send

DEPTHS = (1_000, 10_000, 200_000)


def nested(depth: int) -> bytes:
    """``{"a":[[[...]]]}`` with ``depth`` levels of arrays."""
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


def assert_json_4xx(what: str, resp: Response, allowed: tuple[int, ...] = (400,)) -> None:
    assert resp.status in allowed, f"{what}: {resp.status} {resp.text[:300]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), \
        f"{what}: {resp.headers}"
    body = resp.json()
    assert set(body) == {"error", "description"}, f"{what}: {body}"
    assert "Traceback" not in resp.text


def assert_no_tracebacks(*processes: ManagedProcess) -> None:
    for process in processes:
        text = process.log_path.read_text(errors="replace")
        assert "Traceback" not in text and " ERROR " not in text, \
            f"{process.name} logged an error:\n{process.log_tail(60)}"


def test_deeply_nested_json_is_a_400(front_door: FrontDoor) -> None:
    base = front_door.zuul + "/api/tenant/example"
    posts = {
        "enqueue": base + "/project/org/project/enqueue",
        "dequeue": base + "/project/org/project/dequeue",
        "autohold": base + "/project/org/project/autohold",
        "promote": base + "/promote",
        "nodepool hold": front_door.nodepool + "/api/node/0000000001/hold",
        "nodepool delete": front_door.nodepool + "/api/node/0000000001/delete",
    }
    headers = {**ADMIN, "Content-Type": "application/json"}
    for depth in DEPTHS:
        body = nested(depth)
        for what, url in posts.items():
            resp = request("POST", url, body=body, headers=headers)
            assert_json_4xx(f"{what} at depth {depth}", resp)
        # A signed delivery: refused as unparseable, or accepted and answered by the scheduler.
        delivery = str(uuid.uuid4())
        resp = send(front_door.zuul + "/webhook/github", body, delivery=delivery)
        if resp.status != 200:
            assert_json_4xx(f"webhook at depth {depth}", resp)
    assert_no_tracebacks(front_door.scheduler, front_door.launcher, front_door.worker)


def test_unknown_methods_are_a_405(front_door: FrontDoor) -> None:
    urls = [front_door.zuul + "/api/info", front_door.zuul + "/api/tenant/example/status",
            front_door.zuul + "/api/tenant/example/promote", front_door.nodepool + "/api/info",
            front_door.nodepool + "/api/node/0000000001/hold",
            front_door.zuul + "/webhook/github"]
    for method in ("FOO", "PROPFIND", "PATCH", "TRACK"):
        for url in urls:
            resp = request(method, url, body=b"{}", headers=ADMIN)
            assert_json_4xx(f"{method} {url}", resp, (405,))
        direct = request(method, front_door.scheduler.url + "/api/info")
        assert_json_4xx(f"{method} directly", direct, (405,))
    assert_no_tracebacks(front_door.scheduler, front_door.launcher, front_door.worker)
