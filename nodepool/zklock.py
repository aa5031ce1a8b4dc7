"""kazoo's ``Lock`` recipe with its first round trip pipelined, for Nodepool's lock paths.

The lock znodes and their order are kazoo's (``<uuid>__lock__<sequence>`` ephemeral
sequence children of the lock path; the lowest holds it), which is what Nodepool 11 and
Zuul 14 use on ``/nodepool/nodes/<id>/lock`` and ``/nodepool/requests-lock/<id>``, so they
and we exclude each other. The only change: when the lock path is known to exist
(``assured_path``), the contender is created and the lock path listed in one pipelined
round trip (ZooKeeper answers one session's requests in order, so the listing includes the
new contender) instead of two. Waiting for a predecessor, retries after a lost connection,
release and cleanup are kazoo's own code.

:meth:`PipelinedLock.released_by` lets a caller delete its contender inside a multi-op
transaction it commits anyway (one write and one round trip fewer than a release after it).
:attr:`PipelinedLock.read_after` adds a read of the guarded record to that first round trip.
:meth:`PipelinedLock.acquired_by` takes the lock inside a caller's transaction that proves
its lock dir empty.
"""
from __future__ import annotations

from typing import Any

from kazoo.recipe.lock import Lock
from kazoo.retry import ForceRetryError


class PipelinedLock(Lock):
    """A kazoo ``Lock`` whose first acquire attempt costs one round trip."""

    create_tried: bool  # kazoo's (set in its __init__): whether the contender was created
    is_acquired: bool  # kazoo's: whether we hold the lock
    read_after: str | None = None  # a znode to read in the first round trip (see read)
    _read: Any = None

    def read(self) -> tuple[bytes, Any] | None:
        """``(data, stat)`` of :attr:`read_after`, read in the first attempt's round trip
        right after the listing that showed the lock ours (ZooKeeper answers a session's
        requests in order, so it was read while we held the lock); None when the lock was
        not taken at the first attempt (read it yourself). Raises as kazoo's ``get``."""
        if self._read is None:
            return None
        result, self._read = self._read, None
        return tuple(result.get())

    def _inner_acquire(self, blocking: bool, timeout: float | None,
                       ephemeral: bool = True) -> bool:
        if self.is_acquired or self.create_tried or not self.assured_path:
            return bool(super()._inner_acquire(blocking, timeout, ephemeral))
        self.create_tried = True
        created = self.client.create_async(self.create_path, self.data,
                                           ephemeral=ephemeral, sequence=True)
        listed = self.client.get_children_async(self.path)
        read = self.client.get_async(self.read_after) if self.read_after else None
        self.node = created.get()[len(self.path) + 1:]  # raises as kazoo's create would
        children = listed.get()
        if self.node not in children:  # pragma: no cover - our ephemeral node vanished
            raise ForceRetryError()
        ours = self.node[len(self.prefix):]
        if not any((match := self._contenders_re.search(child)) is not None
                   and match.group(1) < ours for child in children):
            self._read = read
            return True
        if not blocking:
            return False
        # Queued behind a holder: kazoo's own loop finds our node and waits for it.
        return bool(super()._inner_acquire(blocking, timeout, ephemeral))

    def acquired_by(self, transaction: Any) -> None:
        """Add the creation of our contender to ``transaction``, which must also prove the
        lock dir empty (delete it and create it again just before: that fails while any
        contender is in it), so the contender is the only one and holds the lock as kazoo's
        recipe reckons it. Call :meth:`acquired` with its result once committed."""
        self.create_tried = True
        transaction.create(self.create_path, self.data, ephemeral=True, sequence=True)

    def acquired(self, path: str) -> None:
        """The transaction of :meth:`acquired_by` was committed; ``path`` is the contender
        it created: the lock is held (released as any other, by ``release()`` or
        :meth:`released_by`)."""
        self.node = path[len(self.path) + 1:]
        self.is_acquired = True

    @property
    def contender(self) -> str | None:
        """The path of our contender znode while we hold the lock."""
        return f"{self.path}/{self.node}" if self.is_acquired and self.node else None

    def released_by(self, transaction: Any) -> None:
        """Add the deletion of our contender to ``transaction``; call :meth:`committed`
        after it succeeded (then the lock is released and ``release()`` does nothing)."""
        if self.contender:
            transaction.delete(self.contender)

    def committed(self) -> None:
        """The transaction of :meth:`released_by` was committed: the lock is released."""
        self.is_acquired = False
        self.node = None
