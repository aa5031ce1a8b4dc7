"""Real child processes for tests: started with a log file, stopped by PID, never leaked."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)


def _polling(timeout: float, interval: float, what: str) -> dict[str, Any]:
    """tenacity arguments: poll every ``interval`` while the result is falsy, for ``timeout``."""
    def give_up(state: RetryCallState) -> NoReturn:
        raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")

    return {"stop": stop_after_delay(timeout), "wait": wait_fixed(interval),
            "retry": retry_if_result(lambda value: not value), "retry_error_callback": give_up}


async def wait_until(predicate: Callable[[], object], timeout: float, what: str = "condition",
                     interval: float = 0.05) -> object:
    """Like :func:`wait_for`, for async tests: polls without blocking the event loop."""
    return await AsyncRetrying(**_polling(timeout, interval, what))(predicate)


class ProcessFailed(RuntimeError):
    """A managed process exited early or did not become ready in time."""


def proc_stats() -> Iterator[tuple[int, list[str]]]:
    """``(pid, fields)`` of every live process: ``/proc/<pid>/stat`` after the command name
    (``fields[1]`` the parent, ``fields[2]`` the process group, ``fields[11:13]`` user and
    system CPU in clock ticks)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            yield int(stat.parent.name), stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
             what: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` passes."""
    return Retrying(**_polling(timeout, interval, what))(predicate)


class ManagedProcess:
    """A child process with its output in ``log_path``.

    ``start()`` launches it in its own process group and waits until ``ready()`` is true,
    raising :class:`ProcessFailed` with the tail of its log if it exits or times out.
    ``stop()`` sends SIGTERM to the group, then SIGKILL after ``stop_timeout``, and reaps it.
    """

    def __init__(self, name: str, argv: Sequence[str], log_path: Path,
                 ready: Callable[[], bool] | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None, start_timeout: float = 20.0,
                 stop_timeout: float = 10.0) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.ready = ready
        self.env = env
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> ManagedProcess:
        if self.running():
            raise ProcessFailed(f"{self.name} already running as PID {self.pid}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(self.env or {})}
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, cwd=self.cwd,
                                         start_new_session=True)
        deadline = began + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise ProcessFailed(f"{self.name} exited with {self.proc.returncode} during "
                                    f"startup; log {self.log_path}:\n{self.log_tail()}")
            if self.ready is None or self.ready():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise ProcessFailed(f"{self.name} not ready after {self.start_timeout}s; "
                                    f"log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.02)
        self.startup_seconds = time.monotonic() - began
        return self

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> int | None:
        """SIGTERM the process group, SIGKILL after ``stop_timeout``; return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(5)
        else:
            self._signal_group(signal.SIGKILL)  # reap any children left in the group
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL the process group at once (crash simulation) and reap it."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(5)
        self.proc = None

    def restart(self) -> ManagedProcess:
        self.stop()
        return self.start()


class ProcessGroup:
    """Every process a test started; ``stop_all()`` stops them in reverse order."""

    def __init__(self) -> None:
        self.processes: list[ManagedProcess] = []

    def add(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        errors = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                errors.append(f"{process.name}: {exc}")
        self.processes.clear()
        if errors:
            raise RuntimeError("; ".join(errors))
