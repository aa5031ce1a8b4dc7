"""Bad input through Apache to a real worker: clear JSON errors, the worker stays up."""
from __future__ import annotations

import json
import os
import socket
import uuid

import pytest

from tests.harness.http import Response, request
from tests.harness.servers import ApacheServer, HTTPService
from tests.harness.stack import Stack
from tests.webhook.conftest import SECRET, fixture_body, send, spooled, start_worker
from zuul.webhook.verify import sign

BODY = fixture_body("pull_request")


@pytest.fixture
def front(stack: Stack) -> tuple[ApacheServer, HTTPService]:
    """geard, one worker, Apache in front of it (no scheduler: events wait in geard)."""
    geard = stack.gearman(nodelay=True)
    worker = start_worker(stack, geard)
    apache = stack.apache(zuul={"scheduler": "127.0.0.1:9",
                                "webhook": [f"127.0.0.1:{worker.port}"]})
    return apache, worker


def _assert_json_error(resp: Response, status: int, error: str | None = None) -> None:
    assert resp.status == status, resp.text
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    data = resp.json()
    assert set(data) == {"error", "description"}, data
    assert "Traceback" not in resp.text
    if error is not None:
        assert data["error"] == error, data


def _good(url: str) -> None:
    """The next good request is accepted."""
    delivery = str(uuid.uuid4())
    resp = send(url, BODY, delivery=delivery)
    assert resp.status == 200, resp.text
    assert resp.json() == {"status": "accepted", "delivery": delivery}


def _raw(port: int, data: bytes, half_close: bool = True) -> bytes:
    # Deliberately malformed HTTP: no client library will send these, so a socket does.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _status(raw: bytes) -> int | None:
    parts = raw.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


def _signed_raw(path: str, body: bytes, length: int, extra: bytes = b"") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {uuid.uuid4()}\r\n"
            f"X-Hub-Signature-256: {sign(SECRET, body)}\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n").encode() + extra + b"\r\n" + body


def test_error_answers(front: tuple[ApacheServer, HTTPService]) -> None:
    apache, worker = front
    url = f"{apache.url}/zuul/webhook/github"
    legacy = f"{apache.url}/zuul/webhook/legacy"
    cases: list[tuple[str, Response, int, str | None]] = [
        ("unknown connection", send(f"{apache.url}/zuul/webhook/nope", BODY), 404,
         "unknown_connection"),
        ("GET", request("GET", url), 405, None),
        ("PUT", request("PUT", url, body=BODY), 405, None),
        ("no signature", send(url, BODY, headers={"X-Hub-Signature-256": None}), 401,
         "missing_signature"),
        ("wrong secret", send(url, BODY, secret="not-the-secret"), 401, "bad_signature"),
        ("signature of another body", send(
            url, BODY, headers={"X-Hub-Signature-256": sign(SECRET, b"{}")}), 401,
         "bad_signature"),
        ("malformed signature", send(url, BODY, headers={"X-Hub-Signature-256": "sha256=zz"}),
         401, "bad_signature"),
        ("SHA-1 only, not enabled", send(url, BODY, headers={
            "X-Hub-Signature-256": None, "X-Hub-Signature": sign(SECRET, BODY, "sha1")}), 401,
         "missing_signature"),
        ("bad SHA-1 where enabled", send(legacy, BODY, headers={
            "X-Hub-Signature-256": None, "X-Hub-Signature": sign("x", BODY, "sha1")}), 401,
         "bad_signature"),
        ("no X-GitHub-Event", send(url, BODY, headers={"X-GitHub-Event": None}), 400,
         "missing_header"),
        ("no X-GitHub-Delivery", send(url, BODY, headers={"X-GitHub-Delivery": None}), 400,
         "missing_header"),
        ("path in delivery id", send(url, BODY, delivery="../../etc/passwd"), 400,
         "bad_header"),
        ("injected event name", send(url, BODY, event="push%0d%0aX-Evil:%201"), 400,
         "bad_header"),
        ("not JSON", send(url, b"payload=%7B%7D"), 400, "bad_body"),
        ("JSON array", send(url, b"[1, 2]"), 400, "bad_body"),
        ("random bytes, signed", send(url, os.urandom(4096)), 400, "bad_body"),
        ("random bytes, unsigned", request("POST", url, body=os.urandom(4096), headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": "x"}), 401, "missing_signature"),
        ("invalid UTF-8", send(url, b'{"a": "\xff\xfe"}'), 400, "bad_body"),
        ("10 MB body", send(url, b" " * (10 * 1024 * 1024)), 413, "body_too_large"),
    ]
    for what, resp, status, error in cases:
        try:
            _assert_json_error(resp, status, error)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from None
    assert spooled(worker) == [] and spooled(worker, "legacy") == []
    assert worker.running()
    _good(url)


def test_accepted_and_not_queued(front: tuple[ApacheServer, HTTPService]) -> None:
    apache, worker = front
    url = f"{apache.url}/zuul/webhook/github"
    ping = send(url, b'{"zen": "Keep it logically awesome.", "hook_id": 1}', event="ping")
    assert ping.status == 200 and ping.json()["status"] == "pong"
    ignored = send(f"{apache.url}/zuul/webhook/legacy", BODY, event="issue_comment")
    assert ignored.status == 202 and ignored.json()["status"] == "ignored"
    assert spooled(worker) == [] and spooled(worker, "legacy") == []
    sha1 = send(f"{apache.url}/zuul/webhook/legacy", BODY, headers={
        "X-Hub-Signature-256": None, "X-Hub-Signature": sign(SECRET, BODY, "sha1")})
    assert sha1.status == 200, sha1.text
    # Accepted events wait in the spool until the scheduler answers (it is not running).
    _good(url)
    assert len(spooled(worker)) == 1 and len(spooled(worker, "legacy")) == 1
    stored = json.loads(spooled(worker)[0].read_bytes())
    assert stored["connection"] == "github" and stored["event"] == "pull_request"
    assert stored["body"].encode() == BODY


def test_malformed_http(front: tuple[ApacheServer, HTTPService]) -> None:
    apache, worker = front
    path = "/zuul/webhook/github"
    truncated = _raw(apache.port, _signed_raw(path, BODY, len(BODY))[:-100])
    assert _status(truncated) in (400, 408), truncated[:200]
    short_length = _raw(apache.port, _signed_raw(path, BODY, len(BODY) - 10))
    assert _status(short_length) == 401, short_length[:300]
    injections = [b"X-Injected: a\nb: c\r\n", b"X-Null: a\x00b\r\n", b"Content-Length: 5\r\n",
                  b"Transfer-Encoding: chunked\r\n", b"X-GitHub-Event: push\r\n"]
    # Apache answers 400; aiohttp directly may instead just close the connection.
    for port, prefix, refusals in ((apache.port, path, {400}),
                                   (worker.port, "/webhook/github", {400, None})):
        for extra in injections:
            raw = _raw(port, _signed_raw(prefix, BODY, len(BODY), extra))
            assert _status(raw) in refusals, (port, extra, raw[:300])
            assert b"Traceback" not in raw
    garbage = _raw(apache.port, os.urandom(2048))
    assert _status(garbage) in (400, None), garbage[:200]
    assert spooled(worker) == []
    assert worker.running()
    _good(f"{apache.url}{path}")
