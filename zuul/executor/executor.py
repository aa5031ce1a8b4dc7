"""The in-process executor: ``ansible-playbook`` per build, driven by asyncio.

Each build runs in its own process group (``start_new_session``) so a timeout or an abort
kills the playbook and everything it started with one ``killpg``. A semaphore limits how many
builds run at once; waiting builds do not block the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from zuul.executor import joboutput, workspace
from zuul.executor.cleanup import die_with_parent
from zuul.executor.console import ConsoleLog, write_build_json
from zuul.executor.model import (
    ABORTED,
    ERROR,
    FAILURE,
    SUCCESS,
    TIMED_OUT,
    BuildRequest,
    BuildResult,
)
from zuul.executor.sandbox import JobSandbox
from zuul.merger import Merger

log = logging.getLogger(__name__)

LINE_LIMIT = 1024 * 1024
# ansible-playbook exit codes: 2 = a task failed on a host; anything else non-zero is an
# error of the build itself (1 error, 3 unreachable, 4 parser error, 5 bad options, ...).
EXIT_TASK_FAILED = 2


@dataclass
class _Build:
    request: BuildRequest
    process: asyncio.subprocess.Process | None = None
    slot: bool = False
    aborted: asyncio.Event = field(default_factory=asyncio.Event)


class Executor:
    """Runs builds as ``ansible-playbook`` subprocesses, at most ``max_concurrent`` at once."""

    def __init__(self, log_root: Path, work_root: Path, max_concurrent: int = 4,
                 ansible_playbook: str | None = None, keep_work_dirs: bool = False,
                 sandbox: JobSandbox | None = None) -> None:
        self.log_root = Path(log_root)
        self.sandbox = sandbox  # local jobs run in bubblewrap as its user when set
        self.work_root = Path(work_root)
        self.ansible_playbook = ansible_playbook or workspace.default_ansible_playbook()
        self.keep_work_dirs = keep_work_dirs
        self._slots = asyncio.Semaphore(max_concurrent)
        # The executor's own repo cache, fetched (not re-cloned) for every build.
        self.merger = Merger(self.work_root / ".git-cache", self_contained=True)
        self._builds: dict[str, _Build] = {}

    def running(self) -> list[str]:
        """UUIDs of builds whose playbook is running now (not those waiting for a slot)."""
        return [uuid for uuid, b in self._builds.items() if b.process is not None
                and b.process.returncode is None]

    async def abort(self, uuid: str) -> bool:
        """Abort a waiting or running build (kills its process group); False if unknown."""
        build = self._builds.get(uuid)
        if build is None:
            return False
        build.aborted.set()
        if build.process is not None:
            _kill_group(build.process)
        return True

    async def run(self, request: BuildRequest) -> BuildResult:
        """Run one build to its end and return how it ended; waits for a free slot first."""
        if request.uuid in self._builds:
            raise ValueError(f"build {request.uuid} is already known to this executor")
        build = _Build(request)
        self._builds[request.uuid] = build
        try:
            await self._acquire_slot(build)
            try:
                return await self._run(build)
            finally:
                if build.slot:
                    self._slots.release()
        finally:
            del self._builds[request.uuid]

    async def _acquire_slot(self, build: _Build) -> bool:
        """Wait for a free slot; False (holding none) if the build is aborted meanwhile."""
        acquire = asyncio.ensure_future(self._slots.acquire())
        aborted = asyncio.ensure_future(build.aborted.wait())
        try:
            await asyncio.wait({acquire, aborted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            aborted.cancel()
            if not acquire.done():
                acquire.cancel()
        if acquire.done() and not acquire.cancelled():
            build.slot = True
            return True
        return False

    async def _run(self, build: _Build) -> BuildResult:
        request = build.request
        log_dir = self.log_root / request.uuid
        work_dir = self.work_root / request.uuid
        start = time.time()
        tenant = request.zuul_vars.get("tenant")
        console = ConsoleLog(log_dir, {"uuid": request.uuid, "tenant": tenant,
                                       "job": request.job, "start_time": start})
        result, error = ERROR, None
        try:
            if build.aborted.is_set():
                result, error = ABORTED, "aborted before it started"
            else:
                work_dir.mkdir(parents=True, exist_ok=False)
                result, error = await self._play(build, console, work_dir, log_dir, start)
        except asyncio.CancelledError:  # the caller gave up on the build: it is killed
            result, error = ABORTED, "cancelled"
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is this build's ERROR
            log.exception("Build %s failed in the executor", request.uuid)
            result, error = ERROR, f"executor error: {exc}"
        finally:
            end = time.time()
            console.write(f"[zuul] build {request.uuid} result {result}"
                          + (f": {error}" if error else ""))
            console.close()
            try:
                await asyncio.to_thread(joboutput.finish, log_dir, work_dir, console.path)
            except OSError as exc:
                log.warning("Build %s: could not write job-output files: %s", request.uuid, exc)
            write_build_json(log_dir, {
                "uuid": request.uuid, "tenant": tenant, "job": request.job, "result": result,
                "start_time": start, "end_time": end, "error": error,
                "log_path": str(log_dir), "logfile": "console.log",
            })
            if not self.keep_work_dirs:
                await asyncio.to_thread(shutil.rmtree, work_dir, True)
        return BuildResult(request.uuid, result, start, end, log_dir, error)

    async def _play(self, build: _Build, console: ConsoleLog, work_dir: Path,
                    log_dir: Path, start: float) -> tuple[str, str | None]:
        request = build.request
        console.write(f"[zuul] build {request.uuid} job {request.job} "
                      f"playbook {request.playbook}")
        if not Path(request.playbook).is_file():
            return ERROR, f"playbook not found: {request.playbook}"
        if not request.nodes:
            return ERROR, "no nodes"
        all_local = all(n.get("connection") == "local" for n in request.nodes)
        remaining = request.timeout - (time.time() - start)
        extra: dict[str, Any] = {}
        try:
            if request.merge is not None:
                extra = await asyncio.wait_for(workspace.prepare_future_state(
                    request, work_dir, self.merger, console.write), max(remaining, 0.001))
            else:
                await asyncio.wait_for(workspace.checkout_source(
                    request, work_dir, console.write), max(remaining, 0.001))
        except TimeoutError:
            return TIMED_OUT, f"timed out after {request.timeout:g}s checking out the source"
        except workspace.FutureStateError as exc:
            return ERROR, f"future state not prepared: {exc}"
        inventory_path, vars_path = workspace.write_inputs(request, work_dir, log_dir, extra)
        if build.aborted.is_set():
            return ABORTED, "aborted"
        argv = [self.ansible_playbook, "-i", str(inventory_path), "-e", f"@{vars_path}",
                str(request.playbook)]
        env = {**workspace.ansible_env(work_dir, all_local), **joboutput.ansible_env(work_dir)}
        joboutput.write_inventory(log_dir, workspace.inventory(request),
                                  workspace.zuul_vars(request, work_dir, log_dir, extra)["zuul"])
        if self.sandbox is not None and any(n.get("connection") == "local"
                                            for n in request.nodes):
            await asyncio.to_thread(self.sandbox.prepare, work_dir)
            wrapped = self.sandbox.wrap(argv, env, work_dir, [Path(request.playbook).parent])
            argv, env = wrapped.argv, wrapped.env
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=work_dir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True, limit=LINE_LIMIT,
            preexec_fn=die_with_parent)
        build.process = process
        if build.aborted.is_set():  # aborted while the process was starting
            _kill_group(process)
        remaining = request.timeout - (time.time() - start)
        timed_out = False
        try:
            await asyncio.wait_for(_copy_lines(process, console), max(remaining, 0.001))
        except TimeoutError:
            timed_out = True
            _kill_group(process)
        except asyncio.CancelledError:
            _kill_group(process)
            await process.wait()
            raise
        code = await process.wait()
        _kill_group(process, descendants=False)  # whatever is left in the playbook's group
        if timed_out:
            return TIMED_OUT, f"timed out after {request.timeout:g}s"
        if build.aborted.is_set():
            return ABORTED, "aborted"
        if code == 0:
            return SUCCESS, None
        if code == EXIT_TASK_FAILED:
            return FAILURE, None
        return ERROR, f"ansible-playbook exited with {code}"


async def _copy_lines(process: asyncio.subprocess.Process, console: ConsoleLog) -> None:
    """Copy the playbook's output to the console log line by line until EOF."""
    assert process.stdout is not None
    while True:
        try:
            line = await process.stdout.readline()
        except ValueError:  # a line longer than LINE_LIMIT: take what is buffered
            line = await process.stdout.read(LINE_LIMIT)
        if not line:
            return
        console.write(line.decode("utf-8", errors="replace").rstrip("\r\n"))


def _kill_group(process: asyncio.subprocess.Process, descendants: bool = True) -> None:
    """SIGKILL the playbook, its process group and every descendant's process group.

    ansible-core's workers call ``setsid()``, so the modules they run are not in the
    playbook's own group: collect the descendants first (before they are orphaned), then
    kill each group they lead or belong to.
    """
    groups = {process.pid}
    if descendants:
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                groups.add(os.getpgid(child.pid))
            except ProcessLookupError:
                pass
    groups.discard(os.getpgrp())
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
