"""One shared file follower per running build, fanning new lines out to its viewers.

A :class:`BuildFollower` is an asyncio task that reads ``<log_root>/<uuid>/<logfile>`` (opened
by :mod:`zuul.streamer.files`, never through a link) whenever the kernel says the build
directory changed, and pushes each batch of complete lines to every :class:`Viewer`'s bounded
queue. Change notices come from inotify (:class:`Notifier`, one inotify instance for the
whole streamer, one watch per followed build); without them (no inotify, or a shared file
system whose remote writes inotify does not see) the follower checks every
``poll_interval`` seconds, which is also the safety net when a notice is missed.

A viewer whose queue would exceed its byte limit is dropped (the client is too slow), so a
client that never reads cannot grow the streamer's memory. The follower ends all its viewers
with 1000 once ``build.json`` exists and the log is read to its end, or with 4011 if the log
disappears; it stops when its last viewer leaves.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from asyncinotify import Inotify, Mask, Watch

from zuul.streamer.files import BuildFiles, NotFound

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
MAX_READ = 16 * READ_SIZE  # read per wake-up, so one busy log cannot hog the loop
CLOSE_OK = 1000
CLOSE_STREAM_ERROR = 4011
WATCH_MASK = (Mask.MODIFY | Mask.CLOSE_WRITE | Mask.CREATE | Mask.MOVED_TO | Mask.DELETE
              | Mask.MOVED_FROM | Mask.DELETE_SELF | Mask.MOVE_SELF | Mask.ONLYDIR
              | Mask.DONT_FOLLOW)


class Viewer:
    """One client's bounded queue of log bytes from ``start`` on, ended by a close code."""

    def __init__(self, limit: int, start: int = 0,
                 on_drop: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.start = start
        self.on_drop = on_drop
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._ready = asyncio.Event()
        self.close: tuple[int, str] | None = None

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be sent to this client."""
        return self._queued

    def push(self, offset: int, data: bytes) -> bool:
        """Queue the log bytes found at ``offset`` (those before :attr:`start` are cut);
        False (and the viewer is dropped) if they would exceed the limit."""
        if self.close is not None:
            return False
        if offset < self.start:
            data = data[self.start - offset:]
        if not data:
            return True
        if self._queued + len(data) > self.limit:
            self.drop()
            return False
        self._chunks.append(data)
        self._queued += len(data)
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

    async def next(self) -> bytes | None:
        """The next chunk to send, or None when the stream is over (see :attr:`close`)."""
        while not self._chunks:
            if self.close is not None:
                return None
            self._ready.clear()
            await self._ready.wait()
        chunk = self._chunks.popleft()
        self._queued -= len(chunk)
        return chunk


class Notifier:
    """One inotify instance; wakes the follower whose build directory changed."""

    def __init__(self) -> None:
        self._inotify: Inotify | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakers: dict[Watch, asyncio.Event] = {}
        try:
            self._inotify = Inotify()
        except OSError as exc:
            log.warning("No inotify (%s): followers poll for new lines", exc)

    def watch(self, path: Path, wake: asyncio.Event) -> Watch | None:
        """Set ``wake`` whenever something in directory ``path`` changes; None if it cannot."""
        if self._inotify is None:
            return None
        try:
            watch = self._inotify.add_watch(path, WATCH_MASK)
        except OSError as exc:
            log.warning("Cannot watch %s (%s): polling it", path, exc)
            return None
        self._wakers[watch] = wake
        if self._task is None:
            self._task = asyncio.create_task(self._dispatch(), name="inotify")
        return watch

    def unwatch(self, watch: Watch | None) -> None:
        """Stop watching (a directory already gone has lost its watch by itself)."""
        if watch is None or self._inotify is None:
            return
        self._wakers.pop(watch, None)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self._inotify.rm_watch(watch)

    async def _dispatch(self) -> None:
        assert self._inotify is not None
        async for event in self._inotify:
            if event.mask & Mask.Q_OVERFLOW:  # events were lost: wake everyone
                for everyone in self._wakers.values():
                    everyone.set()
                continue
            wake = self._wakers.get(event.watch) if event.watch is not None else None
            if wake is not None:
                wake.set()

    async def close(self) -> None:
        """Stop dispatching and close the inotify descriptor."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None


class BuildFollower:
    """Tails one running build's log file for all of its viewers."""

    def __init__(self, log_root: Path, uuid: str, logfile: str, notifier: Notifier,
                 poll_interval: float, on_stop: Callable[[BuildFollower], None]) -> None:
        self.log_root = log_root
        self.uuid = uuid
        self.logfile = logfile
        self.notifier = notifier
        self.poll_interval = poll_interval
        self.on_stop = on_stop
        self.viewers: set[Viewer] = set()
        self.offset = 0  # bytes handed to viewers so far (always at a line boundary)
        self._pending = b""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stopped = False

    def add(self, viewer: Viewer) -> int:
        """Register ``viewer``; return the offset up to which it reads the file itself."""
        self.viewers.add(viewer)
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name=f"follow {self.uuid}")
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
        self.on_stop(self)

    def _finish_all(self, code: int, reason: str) -> None:
        for viewer in list(self.viewers):
            viewer.finish(code, reason)
        self._stop()

    def _publish(self, data: bytes) -> None:
        if not data:
            return
        offset = self.offset
        self.offset += len(data)
        for viewer in list(self.viewers):
            viewer.push(offset, data)

    def _read(self, log_file: BinaryIO, build: BuildFiles) -> tuple[bytes, bool, bool]:
        """In a thread: (new bytes, ended, log gone); ended is checked before reading."""
        ended = build.ended()
        gone = not ended and not build.is_file(self.logfile)
        chunks: list[bytes] = []
        size = 0
        while not gone and size < MAX_READ:
            chunk = log_file.read(READ_SIZE)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), ended and size < MAX_READ, gone

    def _take(self, data: bytes, final: bool) -> None:
        """Publish complete lines of what was read (everything if ``final``)."""
        self._pending += data
        cut = len(self._pending) if final else self._pending.rfind(b"\n") + 1
        self._publish(self._pending[:cut])
        self._pending = self._pending[cut:]

    async def _follow(self) -> None:
        build: BuildFiles | None = None
        log_file: BinaryIO | None = None
        watch: Watch | None = None
        try:
            build = await asyncio.to_thread(BuildFiles, self.log_root, self.uuid)
            log_file = await asyncio.to_thread(build.open, self.logfile)
            watch = self.notifier.watch(build.path, self._wake)
            await asyncio.to_thread(log_file.seek, self.offset)
            while not self.stopped:
                self._wake.clear()
                data, ended, gone = await asyncio.to_thread(self._read, log_file, build)
                if gone:
                    self._finish_all(CLOSE_STREAM_ERROR, "log file is gone")
                    return
                self._take(data, final=ended)
                if ended:
                    self._finish_all(CLOSE_OK, "build ended")
                    return
                if data:
                    continue  # there may be more already
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        except (OSError, NotFound) as exc:
            log.warning("Cannot follow build %s %s: %s", self.uuid, self.logfile, exc)
            self._finish_all(CLOSE_STREAM_ERROR, "log file is gone")
        finally:
            self.notifier.unwatch(watch)
            if log_file is not None:
                log_file.close()
            if build is not None:
                build.close()


class FollowerRegistry:
    """The followers of running builds, one per (build, log file)."""

    def __init__(self, log_root: Path, poll_interval: float) -> None:
        self.log_root = log_root
        self.poll_interval = poll_interval
        self.notifier: Notifier | None = None
        self._followers: dict[tuple[str, str], BuildFollower] = {}

    def __len__(self) -> int:
        return len(self._followers)

    def subscribe(self, uuid: str, logfile: str, viewer: Viewer) -> tuple[BuildFollower, int]:
        """Attach ``viewer`` to the build's follower (started on demand); return the
        follower and the offset up to which the viewer replays the file itself."""
        if self.notifier is None:
            self.notifier = Notifier()
        key = (uuid, logfile)
        follower = self._followers.get(key)
        if follower is None:
            follower = BuildFollower(self.log_root, uuid, logfile, self.notifier,
                                     self.poll_interval, lambda f: self._forget(key, f))
            self._followers[key] = follower
        return follower, follower.add(viewer)

    def _forget(self, key: tuple[str, str], follower: BuildFollower) -> None:
        if self._followers.get(key) is follower:
            del self._followers[key]

    async def close(self) -> None:
        """Release the inotify instance (the followers end with their viewers)."""
        if self.notifier is not None:
            await self.notifier.close()
            self.notifier = None
