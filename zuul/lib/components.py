"""The component registry in ZooKeeper: each running service says who and how it is.

Path (documented in doc/internals.rst): ``/zuul/components/<kind>/<hostname>-<pid>``, an
ephemeral znode holding JSON ``{"kind", "hostname", "pid", "state", "version", "started"}``.
``kind`` is ``scheduler``, ``executor``, ``webhook``, ``streamer`` or ``launcher``;
``state`` is a :class:`ComponentState`. The znode goes away with the service's ZooKeeper
session; after a lost session it is written again on reconnect. ``GET /api/components``
lists them in Zuul's shape.
"""
from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry

import zuul
from zuul.lib.zk import make_client

log = logging.getLogger(__name__)

ROOT = "/zuul/components"


class ComponentState(enum.Enum):
    """What a component is doing (Zuul's states)."""

    INITIALIZING = "initializing"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class ComponentRegistration:
    """Registers one service as a component; call :meth:`register` once it has a session."""

    def __init__(self, client: KazooClient, kind: str, hostname: str | None = None) -> None:
        self.client = client
        self.kind = kind
        self.hostname = hostname or socket.getfqdn()
        self.path = f"{ROOT}/{kind}/{self.hostname}-{os.getpid()}"
        self.state = ComponentState.INITIALIZING
        self.started = time.time()
        self._lost = False
        self._lock = threading.Lock()

    def _data(self) -> bytes:
        return json.dumps({"kind": self.kind, "hostname": self.hostname, "pid": os.getpid(),
                           "state": self.state.value, "version": zuul.__version__,
                           "started": self.started}).encode()

    def _write(self) -> None:
        with self._lock:
            try:
                self.client.set(self.path, self._data())
            except NoNodeError:
                try:
                    self.client.create(self.path, self._data(), ephemeral=True, makepath=True)
                except NodeExistsError:
                    self.client.set(self.path, self._data())

    def _on_state(self, state: str) -> None:
        if state == KazooState.LOST:
            log.warning("Component %s: ZooKeeper session lost; registering again on "
                        "reconnect", self.path)
            self._lost = True
        elif state == KazooState.CONNECTED and self._lost:
            self._lost = False
            # Not on kazoo's event thread: it must not block.
            threading.Thread(target=self._rewrite, daemon=True,
                             name=f"component-{self.kind}").start()

    def _rewrite(self) -> None:
        try:
            self._write()
        except KazooException as exc:
            log.warning("Component %s: could not register again: %s", self.path, exc)

    def register(self, state: ComponentState = ComponentState.RUNNING) -> None:
        """Write the znode (blocking: run in a thread) and keep it across lost sessions."""
        self.state = state
        self._write()
        self.client.add_listener(self._on_state)
        log.info("Registered component %s (%s)", self.path, state.value)

    def register_when_connected(self, deadline: float = 120.0) -> None:
        """:meth:`register` once the session is up (blocking), retried by kazoo's retry.

        It waits for CONNECTED first: right after ``start_async()`` kazoo fails a call with
        ``ConnectionClosedError`` (its connection thread has no socket yet), which kazoo's
        retry does not retry.
        """
        connected = threading.Event()

        def listener(state: str) -> bool:
            if state == KazooState.CONNECTED:
                connected.set()
                return True  # kazoo removes a listener that returns True
            return False

        self.client.add_listener(listener)
        if self.client.connected:
            connected.set()
        if not connected.wait(deadline):
            self.client.remove_listener(listener)
            raise TimeoutError(f"ZooKeeper not connected after {deadline:.0f}s")
        KazooRetry(max_tries=-1, delay=0.2, max_delay=2.0, deadline=deadline)(self.register)

    def set_state(self, state: ComponentState) -> None:
        """Publish a new state (blocking)."""
        self.state = state
        self._write()

    def unregister(self) -> None:
        """Remove the znode (blocking); the session's end would remove it too."""
        self.client.remove_listener(self._on_state)
        try:
            self.client.delete(self.path)
        except (NoNodeError, KazooException):
            pass


def list_components(client: KazooClient) -> dict[str, list[dict[str, Any]]]:
    """Every registered component by kind, in Zuul's ``/api/components`` shape (blocking)."""
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        kinds = client.get_children(ROOT)
    except NoNodeError:
        return found
    for kind in sorted(kinds):
        try:
            names = client.get_children(f"{ROOT}/{kind}")
        except NoNodeError:
            continue
        for name in sorted(names):
            try:
                raw, _stat = client.get(f"{ROOT}/{kind}/{name}")
                data = json.loads(raw)
            except (NoNodeError, ValueError):
                continue
            found.setdefault(kind, []).append(
                {"hostname": data.get("hostname"), "state": data.get("state"),
                 "version": data.get("version")})
    return found


def registration_ctx(zk_conf: dict[str, Any] | None, kind: str
                     ) -> Callable[[Any], Any]:
    """An aiohttp ``cleanup_ctx`` entry registering a service that has no other use for
    ZooKeeper (webhook workers, log streamers) as ``kind``, on its own kazoo client.

    Without ``zk_conf`` it does nothing. The service never waits for ZooKeeper: the client
    connects and registers in the background (retrying while ZooKeeper is away), and the
    znode is removed and the client closed when the application stops.
    """

    @asynccontextmanager
    async def lifecycle(_app: Any) -> AsyncIterator[None]:
        if not zk_conf:
            yield
            return
        client = make_client(zk_conf)
        client.start_async()
        component = ComponentRegistration(client, kind)
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(component.register_when_connected))
        task.add_done_callback(_log_failure)
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.to_thread(_close, client, component)

    return lifecycle


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Component registration failed: %r", task.exception())


def _close(client: KazooClient, component: ComponentRegistration) -> None:
    if client.connected:
        component.unregister()
    client.stop()
    client.close()
