"""kazoo's threading handler with a cheaper ``select``: one ``poll`` object per socket set.

kazoo's connection thread calls its handler's ``select`` several times per ZooKeeper
operation (before writing the request, in its main loop, before reading the reply).
:class:`~kazoo.handlers.threading.SequentialThreadingHandler` answers each call with
``kazoo.handlers.utils.selector_select``, which builds a new ``selectors`` epoll object,
registers the sockets, waits and closes it: four system calls and a dozen Python objects
per call. In a node request burst that was a fifth of a launcher's CPU time (py-spy,
``bench/nodepool.py``). :class:`PollingHandler` keeps, per thread, one ``select.poll``
object per set of sockets asked about (kazoo asks about the same two or three sockets each
time) and only calls ``poll(2)``, which takes the descriptors on every call, so nothing
lingers in the kernel when kazoo closes a socket and reconnects. Everything else (threads,
queues, async results, timeouts) is kazoo's own handler.
"""
from __future__ import annotations

import select
import threading
from typing import Any

from kazoo.handlers.threading import SequentialThreadingHandler

READ = select.POLLIN | select.POLLPRI
WRITE = select.POLLOUT
MAX_POLLERS = 16  # socket sets remembered per thread (kazoo uses three per connection)


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())


class PollingHandler(SequentialThreadingHandler):
    """kazoo's ``SequentialThreadingHandler`` whose ``select`` reuses ``poll`` objects."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def _poller(self, readers: tuple[int, ...], writers: tuple[int, ...]) -> Any:
        pollers: dict[tuple[tuple[int, ...], tuple[int, ...]], Any] | None = getattr(
            self._local, "pollers", None)
        if pollers is None:
            pollers = self._local.pollers = {}
        poller = pollers.get((readers, writers))
        if poller is None:
            masks: dict[int, int] = {}
            for fd in readers:
                masks[fd] = masks.get(fd, 0) | READ
            for fd in writers:
                masks[fd] = masks.get(fd, 0) | WRITE
            poller = select.poll()
            for fd, mask in masks.items():
                poller.register(fd, mask)
            if len(pollers) >= MAX_POLLERS:
                pollers.clear()
            pollers[(readers, writers)] = poller
        return poller

    def select(self, rlist: list[Any], wlist: list[Any], xlist: list[Any],
               timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
        """``select.select``'s contract, as kazoo calls it (``xlist`` is always empty).

        As ``selectors`` does, an error or hang-up on a socket reports it ready for what
        was asked (kazoo's next read or write then raises the error)."""
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be non-negative")
        poller = self._poller(tuple(_fd(o) for o in rlist), tuple(_fd(o) for o in wlist))
        ready = dict(poller.poll(None if timeout is None else timeout * 1000.0))
        if not ready:
            return [], [], []
        readable = [o for o in rlist if ready.get(_fd(o), 0) & ~WRITE]
        writable = [o for o in wlist if ready.get(_fd(o), 0) & ~READ]
        return readable, writable, []
