"""The build's log directory: ``console.log`` written line by line, then ``build.json``.

This is the whole contract with the log streamer: a directory without ``build.json`` is a
running build; ``build.json`` is written atomically (temp file + rename) when it ends.
``running.json`` (``{"uuid", "tenant", "job", "start_time"}``), written before
``console.log`` exists, names the tenant of a running build: the streamer streams a build only
under the tenant its records name.
"""
from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

CONSOLE_LOG = "console.log"
BUILD_JSON = "build.json"
RUNNING_JSON = "running.json"


def timestamp(now: float | None = None) -> str:
    """``2026-11-25 13:10:00.123456`` in UTC, the prefix of every console line."""
    moment = datetime.fromtimestamp(now, UTC) if now is not None \
        else datetime.now(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class ConsoleLog:
    """Appends timestamped lines to ``<log_dir>/console.log``, flushing each one.

    ``running`` (with at least ``tenant``) is written as ``running.json`` first.
    """

    def __init__(self, log_dir: Path, running: dict[str, Any] | None = None) -> None:
        log_dir.mkdir(parents=True, exist_ok=False)
        log_dir.chmod(0o755)
        if running is not None:
            write_json(log_dir, RUNNING_JSON, running)
        self.log_dir = log_dir
        self.path = log_dir / CONSOLE_LOG
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8",  # noqa: SIM115
                                          errors="replace")
        self.path.chmod(0o644)

    def write(self, text: str) -> None:
        """Write each line of ``text`` with a timestamp and flush it to the file."""
        if self._file is None:
            return
        stamp = timestamp()
        for line in text.splitlines() or [""]:
            self._file.write(f"{stamp} | {line}\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (further writes are ignored)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def write_build_json(log_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``build.json`` atomically so a reader sees either nothing or the whole record."""
    return write_json(log_dir, BUILD_JSON, record)


def write_json(log_dir: Path, name: str, record: dict[str, Any]) -> Path:
    """Write ``<log_dir>/<name>`` atomically (temp file, fsync, rename), mode 0644."""
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".json", dir=log_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        target = log_dir / name
        os.replace(tmp, target)
        return target
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
