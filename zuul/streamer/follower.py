"""One shared file follower per running build, fanning new lines out to its viewers.

A :class:`BuildFollower` is an asyncio task that polls ``<log_root>/<uuid>/<logfile>`` for new
bytes and pushes each batch of complete lines to every :class:`Viewer`'s bounded queue. A
viewer whose queue would exceed its byte limit is dropped (the client is too slow), so a
client that never reads cannot grow the streamer's memory. The follower ends all its viewers
with 1000 once ``build.json`` exists and the log is read to its end, or with 4011 if the log
disappears; it stops when its last viewer leaves.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from zuul.executor.console import BUILD_JSON

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
CLOSE_OK = 1000
CLOSE_STREAM_ERROR = 4011


class Viewer:
    """One client's bounded queue of text chunks, ended by a close code and reason."""

    def __init__(self, limit: int, on_drop: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.on_drop = on_drop
        self._chunks: deque[str] = deque()
        self._queued = 0
        self._ready = asyncio.Event()
        self.close: tuple[int, str] | None = None

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be sent to this client."""
        return self._queued

    def push(self, chunk: str) -> bool:
        """Queue ``chunk``; False (and the viewer is dropped) if it would exceed the limit."""
        if self.close is not None:
            return False
        size = len(chunk)
        if self._queued + size > self.limit:
            self.drop()
            return False
        self._chunks.append(chunk)
        self._queued += size
        self._ready.set()
        return True

    def finish(self, code: int, reason: str) -> None:
        """End the stream after the queued chunks with ``code`` and ``reason``."""
        if self.close is None:
            self.close = (code, reason)
        self._ready.set()

    def drop(self) -> None:
        """Discard what is queued and end the stream at once with 4011."""
        self._chunks.clear()
        self._queued = 0
        self.finish(CLOSE_STREAM_ERROR, "client too slow, dropped")
        if self.on_drop is not None:
            self.on_drop()

    async def next(self) -> str | None:
        """The next chunk to send, or None when the stream is over (see :attr:`close`)."""
        while not self._chunks:
            if self.close is not None:
                return None
            self._ready.clear()
            await self._ready.wait()
        chunk = self._chunks.popleft()
        self._queued -= len(chunk)
        return chunk


class BuildFollower:
    """Tails one running build's log file for all of its viewers."""

    def __init__(self, build_dir: Path, logfile: str, poll_interval: float,
                 on_stop: Callable[[BuildFollower], None]) -> None:
        self.build_dir = build_dir
        self.path = build_dir / logfile
        self.poll_interval = poll_interval
        self.on_stop = on_stop
        self.viewers: set[Viewer] = set()
        self.offset = 0  # bytes handed to viewers so far (always at a line boundary)
        self._pending = b""
        self._file: BinaryIO | None = None
        self._task: asyncio.Task[None] | None = None
        self.stopped = False

    def add(self, viewer: Viewer) -> int:
        """Register ``viewer``; return the offset it must replay from the file itself."""
        self.viewers.add(viewer)
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name=f"follow {self.path}")
        return self.offset

    def remove(self, viewer: Viewer) -> None:
        """Forget ``viewer``; the follower stops when no viewer is left."""
        self.viewers.discard(viewer)
        if not self.viewers:
            self._stop()

    def _stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        if self._file is not None:
            self._file.close()
            self._file = None
        self.on_stop(self)

    def _finish_all(self, code: int, reason: str) -> None:
        for viewer in list(self.viewers):
            viewer.finish(code, reason)
        self._stop()

    def _publish(self, data: bytes) -> None:
        if not data:
            return
        self.offset += len(data)
        text = data.decode("utf-8", errors="replace")
        for viewer in list(self.viewers):
            viewer.push(text)

    def _read_new(self, final: bool) -> None:
        """Read what was appended; publish complete lines (everything if ``final``)."""
        assert self._file is not None
        while True:
            data = self._file.read(READ_SIZE)
            if not data:
                break
            self._pending += data
            cut = len(self._pending) if final else self._pending.rfind(b"\n") + 1
            self._publish(self._pending[:cut])
            self._pending = self._pending[cut:]
        if final:
            self._publish(self._pending)
            self._pending = b""

    async def _follow(self) -> None:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open while following
            self._file.seek(self.offset)
            while not self.stopped:
                ended = (self.build_dir / BUILD_JSON).exists()
                if not ended and not self.path.exists():
                    self._finish_all(CLOSE_STREAM_ERROR, "log file is gone")
                    return
                self._read_new(final=ended)
                if ended:
                    self._finish_all(CLOSE_OK, "build ended")
                    return
                await asyncio.sleep(self.poll_interval)
        except OSError as exc:
            log.warning("Cannot follow %s: %s", self.path, exc)
            self._finish_all(CLOSE_STREAM_ERROR, "log file is gone")


class FollowerRegistry:
    """The followers of running builds, one per (build, log file)."""

    def __init__(self, log_root: Path, poll_interval: float) -> None:
        self.log_root = log_root
        self.poll_interval = poll_interval
        self._followers: dict[tuple[str, str], BuildFollower] = {}

    def __len__(self) -> int:
        return len(self._followers)

    def subscribe(self, uuid: str, logfile: str, viewer: Viewer) -> tuple[BuildFollower, int]:
        """Attach ``viewer`` to the build's follower (started on demand); return the
        follower and the offset up to which the viewer replays the file itself."""
        key = (uuid, logfile)
        follower = self._followers.get(key)
        if follower is None:
            follower = BuildFollower(self.log_root / uuid, logfile, self.poll_interval,
                                     lambda f: self._forget(key, f))
            self._followers[key] = follower
        return follower, follower.add(viewer)

    def _forget(self, key: tuple[str, str], follower: BuildFollower) -> None:
        if self._followers.get(key) is follower:
            del self._followers[key]
