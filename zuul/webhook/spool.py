"""The worker's durable spool: accepted events, kept until the scheduler has answered.

Layout: ``<spool_dir>/<connection>/<time_ns>-<random>.events``, one file per group commit
(:meth:`Spool.write_batch`): the gearman job arguments of one or more events
(doc/internals.rst), one JSON document per line. A file is written as ``.tmp-*`` in the same
directory, fsynced, renamed into place and the directory fsynced, so after a crash a spool file
is either complete or absent. A file is removed once every event in it has been answered.
The methods here block (file I/O): call them from a thread, never on the event loop.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".events"
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True, order=True)
class SpoolFile:
    """One spool file; ordered by name, which starts with the time it was written."""

    name: str
    connection: str
    size: int
    events: int

    def path(self, root: Path) -> Path:
        """Where the file is under the spool root."""
        return root / self.connection / self.name


class Spool:
    """A directory of spooled events with running totals for the size limits."""

    def __init__(self, directory: str | Path, max_bytes: int, max_events: int) -> None:
        self.root = Path(directory)
        self.max_bytes = max_bytes
        self.max_events = max_events
        self.events = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._dir_fds: dict[str, int] = {}

    def open(self, connections: list[str]) -> list[tuple[SpoolFile, list[bytes]]]:
        """Create the directories, drop partial writes; return what is spooled, oldest first."""
        found: list[tuple[SpoolFile, list[bytes]]] = []
        for connection in connections:
            directory = self.root / connection
            directory.mkdir(parents=True, exist_ok=True)
            self._dir_fds[connection] = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            for path in directory.iterdir():
                if path.name.startswith(TMP_PREFIX):
                    path.unlink(missing_ok=True)
                elif path.name.endswith(SUFFIX):
                    data = path.read_bytes()
                    events = data.splitlines()
                    found.append((SpoolFile(path.name, connection, len(data), len(events)),
                                  events))
        found.sort()
        with self._lock:
            self.events = sum(f.events for f, _ in found)
            self.bytes = sum(f.size for f, _ in found)
        return found

    def close(self) -> None:
        """Close the directory handles."""
        for fd in self._dir_fds.values():
            os.close(fd)
        self._dir_fds.clear()

    def full(self, incoming: int = 0) -> bool:
        """True when one more event of ``incoming`` bytes would exceed a limit."""
        return self.events + 1 > self.max_events or self.bytes + incoming > self.max_bytes

    def write_batch(self, connection: str, events: Sequence[bytes]) -> SpoolFile:
        """Durably store ``events`` (single-line JSON documents) in one new file."""
        directory = self.root / connection
        name = f"{time.time_ns():020d}-{secrets.token_hex(6)}{SUFFIX}"
        tmp = directory / f"{TMP_PREFIX}{name}"
        data = b"".join(event + b"\n" for event in events)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.rename(tmp, directory / name)
        os.fsync(self._dir_fds[connection])
        with self._lock:
            self.events += len(events)
            self.bytes += len(data)
        return SpoolFile(name, connection, len(data), len(events))

    def remove(self, spool_file: SpoolFile) -> None:
        """Forget ``spool_file``: every event in it has been answered."""
        try:
            spool_file.path(self.root).unlink()
        except FileNotFoundError:
            log.warning("Spool file %s was already gone", spool_file.name)
            return
        with self._lock:
            self.events -= spool_file.events
            self.bytes -= spool_file.size

    def free_bytes(self) -> int:
        """Bytes free for this process on the spool's filesystem."""
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    def writable(self) -> bool:
        """True when the spool directories exist and are writable."""
        return bool(self._dir_fds) and all(
            os.access(self.root / c, os.W_OK | os.X_OK) for c in self._dir_fds)
