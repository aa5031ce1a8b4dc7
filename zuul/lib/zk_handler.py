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
lingers in the kernel when kazoo closes a socket and reconnects.

It also runs the callbacks marked with :func:`inline` in kazoo's connection thread, as
soon as their reply or watch event is read, rather than handing them to kazoo's callback
threads through a queue. Each hand-off woke a thread and passed the GIL; in a node request
burst the queues' ``notify`` alone was a fifth of the requester's Python time (py-spy
``--gil``), and a reply's callback waited behind every callback queued before it.
Everything else (threads, queues, async results, timeouts) is kazoo's own handler.
"""
from __future__ import annotations

import functools
import logging
import select
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kazoo.exceptions import ConnectionClosedError, ConnectionLoss, SessionExpiredError
from kazoo.handlers.threading import AsyncResult, SequentialThreadingHandler
from kazoo.protocol.states import EventType

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
INLINE = "_zk_inline"
READ = select.POLLIN | select.POLLPRI
WRITE = select.POLLOUT
MAX_POLLERS = 16  # socket sets remembered per thread (kazoo uses three per connection)


def inline(func: F) -> F:
    """Mark ``func``, a completion callback (``rawlink``) or a watch function, to be run
    by :class:`PollingHandler` in kazoo's connection thread when its reply or event is
    read. It must be short and must never block: no synchronous kazoo call (the thread
    that would read its reply is the one waiting), no lock that a thread may hold while
    it waits for ZooKeeper. What it raises is logged. A ``functools.partial`` of a marked
    function is marked; a bound method is marked when its function is."""
    setattr(func, INLINE, True)
    return func


def _is_inline(func: Any) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    return bool(getattr(func, INLINE, False))


def _run(func: Callable[..., Any], *args: Any) -> None:
    try:
        func(*args)
    except Exception:  # noqa: BLE001 - never into kazoo's connection loop
        log.exception("ZooKeeper callback %r failed", func)


# What kazoo hands out while it drops a connection or session: it fails every pending and
# queued request in a loop (these results), then, for a lost session, empties its queue and
# tells every watch with an event of type NONE. A callback sending its request again from
# inside either would have it failed at once, or dropped unanswered. These go through the
# callback thread, as with kazoo's own handler, and run after kazoo is done.
_CONNECTION_FAILURES = (ConnectionLoss, SessionExpiredError, ConnectionClosedError)


class _AsyncResult(AsyncResult):
    """kazoo's threading ``AsyncResult`` whose :func:`inline` callbacks run at once, in
    the thread that set the result (kazoo's connection thread, for a reply), unless the
    result is a lost connection or session."""

    def _do_callbacks(self) -> None:
        dropped = isinstance(self._exception, _CONNECTION_FAILURES)
        for callback in self._callbacks:
            if (_is_inline(callback) and not dropped) or not self._handler.running:
                _run(callback, self)
            else:
                self._handler.completion_queue.put(functools.partial(callback, self))


def _fd(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())


class PollingHandler(SequentialThreadingHandler):
    """kazoo's ``SequentialThreadingHandler`` whose ``select`` reuses ``poll`` objects."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def async_result(self) -> AsyncResult:
        return _AsyncResult(self)

    def dispatch_callback(self, callback: Any) -> None:
        """A watch event: an :func:`inline` watch function runs now (kazoo's connection
        thread read the event), any other, and the NONE events of a dropped connection,
        in kazoo's callback thread."""
        event = callback.args[0] if callback.args else None
        if _is_inline(callback.func) and getattr(event, "type", None) != EventType.NONE:
            _run(callback.func, *callback.args)
        else:
            super().dispatch_callback(callback)

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
