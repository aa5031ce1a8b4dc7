"""gearman over TLS: only a client with a certificate of our CA reaches the event bus.

A real ``geard`` (TLS, as the harness and the playbook run it) with the scheduler's event
worker registered. A local process without a certificate -- plain TCP, TLS without a client
certificate, or a certificate of another CA -- cannot submit a ``zuul:event:github`` job; a
client with our certificate can (and the scheduler's side answers it).
"""
from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from pathlib import Path

import gear
import pytest

from tests.harness.pki import TestCA
from tests.harness.process import wait_until
from tests.harness.servers import GearmanServer
from tests.harness.stack import Stack
from zuul.lib.gearman import HANDSHAKE_TIMEOUT
from zuul.scheduler.events import DeliveryStore, EventReceiver, TriggerEvent


def _event(delivery: str) -> gear.Job:
    body = {"action": "opened", "number": 1}
    payload = {"connection": "github", "delivery": delivery, "event": "pull_request",
               "headers": {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery},
               "body": json.dumps(body), "received_at": time.time()}
    return gear.Job(b"zuul:event:github", json.dumps(payload).encode())


def _submit_fails(client: gear.Client, delivery: str) -> None:
    """Submitting ``delivery`` through ``client`` raises: no job reaches geard."""
    try:
        client.waitForServer(5)  # the TCP connection itself may well succeed
    except gear.TimeoutError:
        pass
    with pytest.raises((gear.TimeoutError, gear.NoConnectedServersError,
                        gear.ConnectionError, gear.GearmanError, OSError)):
        client.submitJob(_event(delivery), timeout=5)


@pytest.mark.slow
async def test_only_our_certificates_reach_the_event_bus(stack: Stack, pki: TestCA,
                                                         tmp_path: Path) -> None:
    # zuul-geard with TLS and the playbook's ACL, as deployed.
    geard = stack.add(GearmanServer(stack.workdir, nodelay=True, ca=pki, acl={
        "zuul-scheduler": {"register": "zuul:event:.*"},
        "zuul-webhook": {"invoke": "zuul:event:.*"}}))
    seen: list[str] = []

    async def handler(event: TriggerEvent) -> None:
        seen.append(event.delivery)

    store = DeliveryStore(tmp_path / "deliveries.db")
    receiver = EventReceiver(geard.conf("zuul-scheduler"), ["github"], store, handler,
                             asyncio.get_running_loop())
    receiver.start()
    try:
        # A plain TCP client: the server expects a TLS handshake and drops it.
        plain = gear.Client("plain")
        plain.addServer("127.0.0.1", geard.port)
        try:
            await asyncio.to_thread(_submit_fails, plain, "plain-1")
        finally:
            plain.shutdown()

        # TLS that trusts the server but has no client certificate: the handshake fails.
        context = ssl.create_default_context(cafile=str(pki.ca_path))
        context.check_hostname = False
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with socket.create_connection(("127.0.0.1", geard.port), timeout=10) as raw:
                with context.wrap_socket(raw) as tls:
                    tls.sendall(b"\0REQ" + bytes(8))
                    tls.recv(1)  # TLS 1.3 reports the missing certificate on first read

        # A certificate of another CA (same name as ours): refused by the server.
        stranger = TestCA(tmp_path / "other-ca", name="stranger-ca").identity("zuul-webhook")
        foreign = gear.Client("foreign")
        foreign.addServer("127.0.0.1", geard.port, ssl_key=str(stranger.key),
                          ssl_cert=str(stranger.cert), ssl_ca=str(stranger.ca))
        try:
            with pytest.raises(gear.TimeoutError):
                await asyncio.to_thread(foreign.waitForServer, 3)
        finally:
            foreign.shutdown()

        # A local process that connects and never starts the handshake stalls the server's
        # accept thread at most HANDSHAKE_TIMEOUT; certified clients get through after it.
        idle = socket.create_connection(("127.0.0.1", geard.port), timeout=10)
        # A certificate of our CA whose identity may not submit events: geard answers the
        # submission with an error (gear's ACL), the job is never created.
        other = await asyncio.to_thread(geard.client, "other", "zuul-job")
        try:
            await asyncio.to_thread(_submit_fails, other, "acl-1")
        finally:
            other.shutdown()

        # With our certificate the event is submitted and answered.
        started = time.monotonic()
        client = await asyncio.to_thread(geard.client, "webhook", "zuul-webhook")
        try:
            job = _event("ours-1")
            await asyncio.to_thread(client.submitJob, job, timeout=30)
            await wait_until(lambda: job.complete, 30, "the certified event answered")
            assert json.loads(b"".join(job.data))["status"] == "accepted"
        finally:
            client.shutdown()
            idle.close()
        assert time.monotonic() - started < HANDSHAKE_TIMEOUT + 15
        assert seen == ["ours-1"]
    finally:
        await asyncio.to_thread(receiver.stop)
        store.close()
