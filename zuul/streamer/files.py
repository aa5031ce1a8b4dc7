"""A build's files under the log root, opened so that nothing outside it is ever read.

The build directory must be a real directory directly under the log root (its name is a
validated build id, so one path component) and the file a regular file directly in it; both
are opened relative to their parent's file descriptor with ``O_NOFOLLOW``, so a symbolic link
at either place (``logs/X -> /etc``, ``logs/X/console.log -> /etc/passwd``) is refused, and a
directory swapped after the check is not followed either: everything later is read through
the descriptors. The log root itself is whatever the configuration names (resolved once).

These calls block (file system): run them in a thread.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from zuul.executor.console import BUILD_JSON, RUNNING_JSON

MAX_RECORD = 64 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class NotFound(LookupError):
    """No such build or file (or one that is not a plain directory/file in place)."""


class BuildFiles:
    """An open build directory under the log root; close it when done."""

    def __init__(self, log_root: Path, uuid: str) -> None:
        self.uuid = uuid
        self.path = log_root / uuid
        root = os.open(log_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.fd = os.open(uuid, _DIR_FLAGS, dir_fd=root)
        except OSError as exc:  # ENOENT, ELOOP (a symlink), ENOTDIR
            raise NotFound(f"unknown build {uuid}") from exc
        finally:
            os.close(root)

    def close(self) -> None:
        """Close the directory descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> BuildFiles:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self, name: str) -> BinaryIO:
        """The regular file ``name`` in the build directory, opened for reading."""
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            raise NotFound(f"no log file {name} for build {self.uuid}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFound(f"no log file {name} for build {self.uuid}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def is_file(self, name: str) -> bool:
        """True when ``name`` is a regular file (not a link) in the build directory."""
        try:
            mode = os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode
        except OSError:
            return False
        return stat.S_ISREG(mode)

    def ended(self) -> bool:
        """True once the executor has written ``build.json``."""
        return self.is_file(BUILD_JSON)

    def _read_record(self, name: str) -> dict[str, Any] | None:
        try:
            with self.open(name) as record:
                data = json.loads(record.read(MAX_RECORD))
        except (NotFound, OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def tenant(self) -> str | None:
        """The tenant the build ran for: from ``build.json``, else ``running.json``."""
        for name in (BUILD_JSON, RUNNING_JSON):
            record = self._read_record(name)
            if record is not None and isinstance(record.get("tenant"), str):
                return record["tenant"]
        return None
