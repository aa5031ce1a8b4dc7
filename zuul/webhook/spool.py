"""The worker's durable spool: one file per accepted event, until the scheduler has it.

Layout: ``<spool_dir>/<connection>/<time_ns>-<random>.event``; each file holds the gearman
job arguments (doc/internals.rst) exactly as they will be submitted. A file is written as
``.tmp-*`` in the same directory, fsynced, renamed into place and the directory fsynced, so
after a crash a spool file is either complete or absent. The methods here block (file I/O):
call them from a thread, never on the event loop.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".event"
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True, order=True)
class SpoolEntry:
    """One spooled event; ordered by name, which starts with the time it was accepted."""

    name: str
    connection: str
    size: int

    def path(self, root: Path) -> Path:
        """Where the entry's file is under the spool root."""
        return root / self.connection / self.name


class Spool:
    """A directory of spooled events with running totals for the size limits."""

    def __init__(self, directory: str | Path, max_bytes: int, max_files: int) -> None:
        self.root = Path(directory)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.files = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._dir_fds: dict[str, int] = {}

    def open(self, connections: list[str]) -> list[SpoolEntry]:
        """Create the directories, drop partial writes; return what is spooled, oldest first."""
        entries: list[SpoolEntry] = []
        for connection in connections:
            directory = self.root / connection
            directory.mkdir(parents=True, exist_ok=True)
            self._dir_fds[connection] = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            for path in directory.iterdir():
                if path.name.startswith(TMP_PREFIX):
                    path.unlink(missing_ok=True)
                elif path.name.endswith(SUFFIX):
                    entries.append(SpoolEntry(path.name, connection, path.stat().st_size))
        entries.sort()
        with self._lock:
            self.files = len(entries)
            self.bytes = sum(e.size for e in entries)
        return entries

    def close(self) -> None:
        """Close the directory handles."""
        for fd in self._dir_fds.values():
            os.close(fd)
        self._dir_fds.clear()

    def full(self, incoming: int = 0) -> bool:
        """True when one more event of ``incoming`` bytes would exceed a limit."""
        return self.files + 1 > self.max_files or self.bytes + incoming > self.max_bytes

    def write(self, connection: str, data: bytes) -> SpoolEntry:
        """Durably store ``data`` for ``connection``; returns the new entry."""
        directory = self.root / connection
        name = f"{time.time_ns():020d}-{secrets.token_hex(6)}{SUFFIX}"
        tmp = directory / f"{TMP_PREFIX}{name}"
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
            self.files += 1
            self.bytes += len(data)
        return SpoolEntry(name, connection, len(data))

    def read(self, entry: SpoolEntry) -> bytes:
        """The stored job arguments of ``entry``."""
        return entry.path(self.root).read_bytes()

    def remove(self, entry: SpoolEntry) -> None:
        """Forget ``entry`` (the scheduler has answered for it)."""
        try:
            entry.path(self.root).unlink()
        except FileNotFoundError:
            log.warning("Spool file %s was already gone", entry.name)
            return
        with self._lock:
            self.files -= 1
            self.bytes -= entry.size

    def writable(self) -> bool:
        """True when the spool directories exist and are writable."""
        return bool(self._dir_fds) and all(
            os.access(self.root / c, os.W_OK | os.X_OK) for c in self._dir_fds)
