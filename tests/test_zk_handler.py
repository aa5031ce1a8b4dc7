"""zuul.lib.zk_handler.PollingHandler on a real ZooKeeper: inline callbacks run in kazoo's
connection thread, others in its callback threads, and a failing inline callback neither
stops the connection nor the callbacks after it."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss
from kazoo.protocol.states import Callback, EventType, WatchedEvent

from tests.harness.servers import ZooKeeperServer
from zuul.lib.zk import make_client
from zuul.lib.zk_handler import inline

TIMEOUT = 10.0


@pytest.fixture
def client(zookeeper: ZooKeeperServer, zk_chroot: str) -> Iterator[KazooClient]:
    zk = make_client(zookeeper.conf(zk_chroot))
    zk.start(timeout=TIMEOUT)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def _connection_thread(client: KazooClient) -> threading.Thread:
    thread = client._connection._connection_routine  # the thread of its zk_loop
    assert isinstance(thread, threading.Thread)
    return thread


def test_inline_callbacks_run_in_the_connection_thread(client: KazooClient) -> None:
    ran: dict[str, threading.Thread] = {}
    events = {name: threading.Event() for name in ("inline", "queued", "watch", "qwatch")}

    def recorder(name: str) -> Any:
        def record(_result_or_event: Any) -> None:
            ran[name] = threading.current_thread()
            events[name].set()
        return record

    inline_reply, inline_watch = inline(recorder("inline")), inline(recorder("watch"))
    queued_reply, queued_watch = recorder("queued"), recorder("qwatch")

    client.create("/a", b"1")
    client.create("/b", b"1")
    client.get_async("/a", watch=inline_watch).rawlink(inline_reply)
    client.get_async("/b", watch=queued_watch).rawlink(queued_reply)
    client.set("/a", b"2")
    client.set("/b", b"2")
    for name, event in events.items():
        assert event.wait(TIMEOUT), f"{name} callback never ran"
    connection = _connection_thread(client)
    assert ran["inline"] is connection and ran["watch"] is connection
    assert ran["queued"] is not connection and ran["qwatch"] is not connection


def test_failing_inline_callback_is_logged_and_harmless(
        client: KazooClient, caplog: pytest.LogCaptureFixture) -> None:
    after = threading.Event()

    @inline
    def broken(_result: Any) -> None:
        raise RuntimeError("callback bug")

    @inline
    def fine(_result: Any) -> None:
        after.set()

    client.create("/c", b"x")
    with caplog.at_level(logging.ERROR, logger="zuul.lib.zk_handler"):
        result = client.get_async("/c")
        result.rawlink(broken)
        result.rawlink(fine)
        assert after.wait(TIMEOUT), "the callback after the failing one never ran"
    assert "callback bug" in caplog.text
    assert client.get("/c")[0] == b"x"  # the connection still serves requests
    assert _connection_thread(client).is_alive()


def test_inline_callback_of_a_dropped_connection_runs_after_kazoo_fails_the_rest(
        client: KazooClient) -> None:
    """kazoo fails every pending request in one loop when a connection drops, and tells
    every watch with a NONE event when it drops a session: a callback sending its request
    again from inside would see it failed at once or dropped. So a result of ConnectionLoss
    and a NONE event go through the callback thread; any other result runs inline in the
    thread that set it."""
    ran: dict[str, threading.Thread] = {}
    done = {name: threading.Event() for name in ("ok", "lost", "none")}

    def recorder(name: str) -> Any:
        def record(_result: Any) -> None:
            ran[name] = threading.current_thread()
            done[name].set()
        return inline(record)

    ok, lost = client.handler.async_result(), client.handler.async_result()
    ok.rawlink(recorder("ok"))
    lost.rawlink(recorder("lost"))
    ok.set(1)
    lost.set_exception(ConnectionLoss())
    # What kazoo tells every watch when it drops a session (_reset_watchers).
    client.handler.dispatch_callback(Callback(
        "watch", recorder("none"), (WatchedEvent(EventType.NONE, "EXPIRED_SESSION", None),)))
    for name, event in done.items():
        assert event.wait(TIMEOUT), f"{name} callback never ran"
    assert ran["ok"] is threading.current_thread()
    assert ran["lost"] is not threading.current_thread()
    assert ran["none"] is not threading.current_thread()
