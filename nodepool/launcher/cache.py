"""A launcher's view of one ZooKeeper directory: its children's data, kept current by watches.

Built from kazoo's own watches, set by its async calls: a child watch on the directory
(``get_children_async``, listed again when it fires) and, per child, a data watch
(``get_async``, read again when it fires). Its callbacks are
:func:`~zuul.lib.zk_handler.inline`: they run in kazoo's connection thread as each reply or
event is read, and never block (kazoo's ``ChildrenWatch`` lists synchronously in its
callback thread, holding up every other watch of the session during a burst). Unlike
kazoo's ``TreeCache`` it does not descend below the children, so the lock contenders Zuul
and the launchers create under ``/nodepool/nodes/<id>/lock`` cost no reads and wake no
round: a node request burst makes about half the ZooKeeper reads with it
(``bench/nodepool.py``).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.protocol.states import EventType, WatchedEvent, ZnodeStat

from zuul.lib.zk_handler import inline

log = logging.getLogger(__name__)


class ChildCache:
    """``name -> (data, stat)`` for every child of ``path``; ``on_change()`` is called
    (from kazoo's threads) after each change it saw. :attr:`initialized` is set once every
    child present at the start was read."""

    def __init__(self, client: KazooClient, path: str, on_change: Callable[[], None]) -> None:
        self.client = client
        self.path = path
        self.on_change = on_change
        self.initialized = threading.Event()
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, ZnodeStat]] = {}
        self._children: set[str] = set()
        self._first: set[str] | None = None  # children of the first listing not read yet
        self._retry: set[str] = set()  # children whose read failed (connection lost)
        self._sent = 0  # reads sent so far (each read's ticket)
        self._reading: set[int] = set()  # tickets of reads not answered yet
        self._settled = threading.Condition(self._lock)
        self._closed = False
        self._relist = False  # a listing failed (connection lost): list again on refresh
        self._final: set[str] = set()  # children not followed any more (see mark_final)
        self._list()

    def close(self) -> None:
        """Stop following changes (the watches end at their next event)."""
        self._closed = True

    def items(self) -> list[tuple[str, bytes, ZnodeStat]]:
        """Every child read so far, in name order."""
        with self._lock:
            return [(name, *self._data[name]) for name in sorted(self._data)]

    def names(self) -> set[str]:
        """The children of the last listing (read or not)."""
        with self._lock:
            return set(self._children)

    def mark_final(self, name: str) -> None:
        """The owner is about to write child ``name`` into a final state (a request it
        fulfils), after which it needs nothing more of it but its deletion: its next change
        is not read back (the owner passes what it wrote to :meth:`final_written`, or calls
        :meth:`final_failed`). Saves one read per fulfilled request; the deletion is still
        seen by the listing."""
        with self._lock:
            self._final.add(name)

    def final_written(self, name: str, data: bytes, stat: ZnodeStat) -> None:
        """The write of :meth:`mark_final` succeeded: ``data`` at ``stat`` is the child."""
        with self._lock:
            known = self._data.get(name)
            if name in self._children and (known is None or known[1].mzxid <= stat.mzxid):
                self._data[name] = (data, stat)

    def final_failed(self, name: str) -> None:
        """The write of :meth:`mark_final` did not happen: follow the child again (read it,
        setting its watch again, in case its change was skipped meanwhile)."""
        with self._lock:
            self._final.discard(name)
            present = name in self._children
        if present:
            self._fetch(name)

    def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the reads sent before this call: the
        changes seen so far are then in the cache (a round plans from it in the order of
        the data). Reads sent meanwhile are not waited for, so a burst cannot hold it up."""
        with self._settled:
            sent = self._sent
            self._settled.wait_for(lambda: not any(t <= sent for t in self._reading), timeout)

    def refresh(self) -> None:
        """List and read again what failed while the connection was down (a failed read
        sets no watch); the launcher calls it before each round."""
        with self._lock:
            names = self._retry & self._children
            self._retry.clear()
            relist, self._relist = self._relist, False
        if relist:
            self._list()
        for name in names:
            self._fetch(name)

    @inline
    def _list(self, _event: WatchedEvent | None = None) -> None:
        """List the children and watch for the next change (from any thread; no wait)."""
        if self._closed:
            return
        try:
            result = self.client.get_children_async(self.path, watch=self._list)
        except KazooException as exc:  # the connection is closing
            log.debug("Cannot list %s: %s", self.path, exc)
            self._relist = True
            return
        result.rawlink(self._on_listing)

    @inline
    def _on_listing(self, result: Any) -> None:
        try:
            children = result.get()
        except KazooException as exc:  # connection lost (or no such dir): no watch is set
            log.debug("Listing %s failed: %s", self.path, exc)
            self._relist = True
            return
        self._on_children(children)

    def _on_children(self, children: list[str]) -> None:
        if self._closed:
            return
        with self._lock:
            current = set(children)
            new = current - self._children
            self._children = current
            for gone in set(self._data) - current:
                del self._data[gone]
            self._final &= current
            if self._first is None:
                self._first = set(new)
                if not new:
                    self.initialized.set()
        for name in new:
            self._fetch(name)
        self.on_change()

    def _fetch(self, name: str) -> None:
        with self._lock:
            self._sent += 1
            ticket = self._sent
            self._reading.add(ticket)
        try:
            result = self.client.get_async(f"{self.path}/{name}", watch=self._on_event)
        except KazooException as exc:  # the connection is closing
            log.debug("Cannot read %s/%s: %s", self.path, name, exc)
            with self._lock:
                self._retry.add(name)
                self._reading.discard(ticket)
                self._settled.notify_all()
            return
        result.rawlink(partial(self._on_data, name, ticket))

    @inline
    def _on_data(self, name: str, ticket: int, result: Any) -> None:
        failed = False
        try:
            data, stat = result.get()
        except NoNodeError:
            data = stat = None
        except KazooException as exc:  # connection lost: keep what we had, read it again
            log.debug("Reading %s/%s failed: %s", self.path, name, exc)
            data = stat = None
            failed = True
        with self._lock:
            self._reading.discard(ticket)
            self._settled.notify_all()
            known = self._data.get(name)
            if failed:
                self._retry.add(name)
            elif stat is None or name not in self._children:
                self._data.pop(name, None)
            elif known is None or known[1].mzxid <= stat.mzxid:
                self._data[name] = (data, stat)
            if self._first is not None and name in self._first:
                self._first.discard(name)
                if not self._first:
                    self.initialized.set()
        self.on_change()

    @inline
    def _on_event(self, event: WatchedEvent) -> None:
        if self._closed or not event.path:
            return
        name = event.path.rsplit("/", 1)[1]
        if event.type == EventType.CHANGED:
            with self._lock:
                final = name in self._final
            if not final:
                self._fetch(name)
        elif event.type == EventType.DELETED:
            with self._lock:
                self._data.pop(name, None)
            self.on_change()
