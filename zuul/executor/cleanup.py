"""Ending builds whose owner died: no orphaned playbook, a ``build.json`` for every build.

- :func:`die_with_parent` runs in each ``ansible-playbook`` child before exec: the kernel
  SIGKILLs the playbook when the process that started it dies (``PR_SET_PDEATHSIG``), even on
  ``kill -9``.
- :func:`end_lost_build` is what a restarted owner does for a build it can no longer finish:
  kill every process still working in the build's work dir (ansible's forked workers call
  ``setsid`` and outlive their parent), wait until they are gone, write ``build.json`` (the
  log streamer's end-of-build marker) if the build never wrote one, and remove the work dir.
"""
from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from zuul.executor.console import BUILD_JSON, CONSOLE_LOG, timestamp, write_build_json

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
KILL_WAIT = 10.0
# Resolved in the parent: a forked child of a threaded process must not load libraries.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> None:
    """``preexec_fn``: have the kernel SIGKILL this child when its parent dies."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def processes_in(*work_dirs: Path) -> list[psutil.Process]:
    """Processes whose working directory or command line is inside one of ``work_dirs``."""
    roots = [str(d) for d in work_dirs]
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        try:
            cwd = proc.info.get("cwd") or ""
            cmdline = proc.info.get("cmdline") or []
        except psutil.Error:
            continue
        if any(_inside(cwd, root) or any(root in arg for arg in cmdline) for root in roots):
            found.append(proc)
    return found


def kill_processes_in(*work_dirs: Path, timeout: float = KILL_WAIT) -> int:
    """SIGKILL every process working in ``work_dirs`` (one scan) and wait until they are gone.

    Returns how many were killed; raises TimeoutError if any survives ``timeout``.
    """
    if not work_dirs:
        return 0
    procs = processes_in(*work_dirs)
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    _gone, alive = psutil.wait_procs(procs, timeout=timeout)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    if alive:
        raise TimeoutError(f"processes {[p.pid for p in alive]} survived SIGKILL")
    return len(procs)


def end_lost_build(log_root: Path, work_root: Path, uuid: str, job: str, result: str,
                   reason: str, start_time: float | None, kill: bool = True
                   ) -> dict[str, Any] | None:
    """End build ``uuid`` for good (blocking); return the ``build.json`` written, if any.

    ``kill=False`` when the caller already killed its processes (:func:`kill_processes_in`).
    """
    work_dir = Path(work_root) / uuid
    killed = kill_processes_in(work_dir) if kill else 0
    if killed:
        log.warning("Build %s: killed %d leftover process(es)", uuid, killed)
    shutil.rmtree(work_dir, ignore_errors=True)
    log_dir = Path(log_root) / uuid
    if (log_dir / BUILD_JSON).exists():
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    log_dir.chmod(0o755)
    end = time.time()
    with open(log_dir / CONSOLE_LOG, "a", encoding="utf-8") as console:
        console.write(f"{timestamp(end)} | [zuul] build {uuid} result {result}: {reason}\n")
    record = {"uuid": uuid, "job": job, "result": result, "start_time": start_time or end,
              "end_time": end, "error": reason, "log_path": str(log_dir),
              "logfile": CONSOLE_LOG}
    write_build_json(log_dir, record)
    return record
