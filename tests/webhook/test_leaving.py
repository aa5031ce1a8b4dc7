"""A worker leaving (SIGTERM) and a worker that cannot spool, on its own port.

On SIGTERM the worker turns not-ready first, then stops accepting connections, and finishes
every request it has started: one whose body is still arriving when the signal comes is
read, spooled and answered 200 before the process exits. A worker whose spool disk has less
room than ``spool_min_free_bytes`` is not ready and refuses deliveries with 503.
"""
from __future__ import annotations

import json
import signal
import socket
import time
import uuid

from tests.harness.http import get, status_of
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.webhook.conftest import SECRET, fixture_body, send, spooled, start_worker
from zuul.webhook.verify import sign

BODY = fixture_body("pull_request")


def _start_request(port: int, delivery: str, body: bytes) -> socket.socket:
    """Send the headers and the first half of a signed delivery; return the open socket."""
    head = (f"POST /webhook/github HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nX-GitHub-Event: pull_request\r\n"
            f"X-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {sign(SECRET, body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head + body[:len(body) // 2])
    return sock


def _finish_request(sock: socket.socket, body: bytes) -> tuple[int, dict[str, str]]:
    """Send the rest of the body; return the status and JSON answer."""
    with sock:
        sock.sendall(body[len(body) // 2:])
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def test_sigterm_finishes_requests_whose_body_is_still_arriving(stack: Stack) -> None:
    geard = stack.gearman()
    worker = start_worker(stack, geard, drain_delay=1.0, drain_timeout=30)
    wait_for(lambda: status_of(worker.url + "/health/ready") == 200, 30,
             what="the worker to be ready (gearman connected)")
    early, late = str(uuid.uuid4()), str(uuid.uuid4())
    # Both requests have started (headers and half the body sent) when the signal comes.
    early_sock = _start_request(worker.port, early, BODY)
    late_sock = _start_request(worker.port, late, BODY)
    time.sleep(0.2)  # let the worker read the headers (no condition to poll on a raw socket)
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    # Readiness goes first, while the listener still serves (the balancer's cue).
    ready = get(worker.url + "/health/ready")
    assert ready.status == 503 and "shutting down" in ready.json()["description"], ready.text
    assert _finish_request(early_sock, BODY) == (200, {"status": "accepted",
                                                       "delivery": early})
    # After drain_delay the listener closes: no new connections...
    wait_for(lambda: status_of(worker.url + "/health/live", timeout=0.5) is None, 10,
             what="the listener to close")
    # ...but the request started before the signal is still read, spooled and answered.
    assert _finish_request(late_sock, BODY) == (200, {"status": "accepted", "delivery": late})
    assert worker.proc.wait(30) == 0
    stored = [json.loads(line)["delivery"] for path in spooled(worker)
              for line in path.read_bytes().splitlines()]
    assert sorted(stored) == sorted([early, late])


def test_no_room_to_spool_means_not_ready(stack: Stack) -> None:
    geard = stack.gearman()
    worker = start_worker(stack, geard, spool_min_free_bytes=2**62)
    ready = get(worker.url + "/health/ready")
    assert ready.status == 503, ready.text
    assert "spool_min_free_bytes" in ready.json()["description"]
    refused = send(worker.url + "/webhook/github", BODY)
    assert refused.status == 503 and refused.json()["error"] == "spool_full", refused.text
    assert refused.headers["Retry-After"] == "5"
    assert spooled(worker) == []
    # With room again (restarted with the default), it is ready and accepts.
    worker.stop()
    worker.config_path.write_text(worker.config_path.read_text().replace(
        "spool_min_free_bytes: 4611686018427387904\n", ""))
    worker.start()
    wait_for(lambda: status_of(worker.url + "/health/ready") == 200, 30,
             what="the worker to be ready again")
    assert send(worker.url + "/webhook/github", BODY).status == 200


def test_a_stalled_body_gives_up_its_reader_slot(stack: Stack) -> None:
    # One reader slot: a client that stops mid-body holds it only for body_timeout.
    geard = stack.gearman()
    worker = start_worker(stack, geard, max_body_readers=1, body_timeout=1.0)
    stalled = _start_request(worker.port, str(uuid.uuid4()), BODY)
    with stalled:
        time.sleep(0.2)  # the worker reads the headers and takes the slot
        began = time.monotonic()
        delivery = str(uuid.uuid4())
        resp = send(worker.url + "/webhook/github", BODY, delivery=delivery)
        waited = time.monotonic() - began
        assert resp.status == 200, resp.text
        assert resp.json() == {"status": "accepted", "delivery": delivery}
        assert waited < 5, waited
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = stalled.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.split()[1] == b"408", data[:300]
    assert b"body_timeout" in payload
