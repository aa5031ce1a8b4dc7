"""The executor against real ``ansible-playbook`` runs on a local node."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.executor.helpers import alive, build_request, read_pid
from tests.harness.process import wait_until
from zuul.executor import BuildRequest, Executor
from zuul.executor.workspace import inventory

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \| ")


async def test_success_writes_console_while_running(executor: Executor, log_root: Path) -> None:
    request = build_request("lines.yaml", line_count=5)
    task = asyncio.create_task(executor.run(request))
    console = log_root / request.uuid / "console.log"
    # The first line is in the log while the build still runs (no build.json yet).
    await wait_until(lambda: console.exists() and "line-0" in console.read_text(), 30,
                     "line-0 in the console log")
    assert not (log_root / request.uuid / "build.json").exists()
    assert request.uuid in executor.running()
    result = await task

    assert result.result == "SUCCESS", console.read_text()
    assert result.log_path == log_root / request.uuid
    assert result.start_time <= result.end_time
    lines = console.read_text().splitlines()
    assert all(STAMP.match(line) for line in lines)
    printed = [line.split(" | ")[-1] for line in lines if re.search(r"\| line-\d$", line)]
    assert printed == [f"line-{i}" for i in range(5)]
    assert any(f"project=org/project change=1,1 pipeline=check job=test-job "
               f"build={request.uuid}" in line for line in lines)
    record = json.loads((log_root / request.uuid / "build.json").read_text())
    assert record["uuid"] == request.uuid and record["result"] == "SUCCESS"
    assert record["start_time"] == result.start_time and record["end_time"] == result.end_time
    assert executor.running() == []
    assert not (executor.work_root / request.uuid).exists()


async def test_failure_error_and_unreachable(executor: Executor, log_root: Path) -> None:
    failing = build_request("fail.yaml")
    syntax = build_request("syntax_error.yaml")
    missing = build_request("no-such-playbook.yaml")
    unreachable = build_request("lines.yaml", line_count=1)
    unreachable.nodes = [{"name": "gone", "host": "127.0.0.1", "connection": "ssh",
                          "port": 9, "username": "nobody"}]
    results = await asyncio.gather(*(executor.run(r) for r in
                                     (failing, syntax, missing, unreachable)))
    assert [r.result for r in results] == ["FAILURE", "ERROR", "ERROR", "ERROR"]
    failing_log = (log_root / failing.uuid / "console.log").read_text()
    assert "before-failure" in failing_log and "failing-now" in failing_log
    assert "after-failure" not in failing_log
    assert "exited with 4" in results[1].error
    assert "playbook not found" in results[2].error
    assert "UNREACHABLE" in (log_root / unreachable.uuid / "console.log").read_text()
    for request, result in zip((failing, syntax, missing, unreachable), results, strict=True):
        record = json.loads((log_root / request.uuid / "build.json").read_text())
        assert record["result"] == result.result


async def test_timeout_kills_every_process(executor: Executor, log_root: Path,
                                           workdir: Path) -> None:
    pid_file = workdir / "sleep.pid"
    # Long enough for ansible-playbook to start its task on a loaded machine (it took 4.6 s).
    request = build_request("sleep.yaml", timeout=15, pid_file=str(pid_file))
    result = await executor.run(request)
    assert result.result == "TIMED_OUT"
    assert "timed out after 15s" in result.error
    pid = read_pid(pid_file)
    assert pid is not None, "the sleep task never started"
    await wait_until(lambda: not alive(pid), 5, f"sleep (PID {pid}) to be gone")
    assert json.loads((log_root / request.uuid / "build.json").read_text())["result"] \
        == "TIMED_OUT"


async def test_abort_running_and_waiting_builds(workdir: Path, log_root: Path) -> None:
    executor = Executor(log_root=log_root, work_root=workdir / "work", max_concurrent=1)
    pid_file = workdir / "sleep.pid"
    running = build_request("sleep.yaml", timeout=120, pid_file=str(pid_file))
    waiting = build_request("lines.yaml", line_count=1)
    running_task = asyncio.create_task(executor.run(running))
    await wait_until(lambda: read_pid(pid_file), 30, "the sleep task to start")
    waiting_task = asyncio.create_task(executor.run(waiting))
    await asyncio.sleep(0)  # let it reach the concurrency slot
    assert executor.running() == [running.uuid]  # the limit of 1 holds the second back

    assert await executor.abort(waiting.uuid) is True
    waiting_result = await asyncio.wait_for(waiting_task, 10)
    assert waiting_result.result == "ABORTED"
    assert waiting_result.error == "aborted before it started"  # the limit held it back
    assert running_task.done() is False

    assert await executor.abort(running.uuid) is True
    result = await asyncio.wait_for(running_task, 15)
    assert result.result == "ABORTED"
    pid = read_pid(pid_file)
    await wait_until(lambda: not alive(pid), 5, f"sleep (PID {pid}) to be gone")
    assert await executor.abort(running.uuid) is False
    assert executor.running() == []


async def test_change_source_checked_out(executor: Executor, log_root: Path,
                                         workdir: Path) -> None:
    repo = workdir / "upstream"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                        *args], check=True, capture_output=True, timeout=30)

    git("init", "-q", "-b", "master")
    (repo / "README").write_text("base\n")
    git("add", "README")
    git("commit", "-q", "-m", "base")
    (repo / "README").write_text("proposed change\n")
    git("commit", "-q", "-am", "change")
    git("update-ref", "refs/changes/01/1/1", "HEAD")
    git("reset", "-q", "--hard", "HEAD~1")

    request = build_request("source.yaml")
    request.project_git_url = f"file://{repo}"
    request.ref = "refs/changes/01/1/1"
    result = await executor.run(request)
    console = (log_root / request.uuid / "console.log").read_text()
    assert result.result == "SUCCESS", console
    assert "node | proposed change" in console

    unreachable = build_request("lines.yaml", line_count=1)
    unreachable.project_git_url = f"file://{workdir}/no-such-repo"
    result = await executor.run(unreachable)
    assert result.result == "SUCCESS"
    assert "source not checked out" in (log_root / unreachable.uuid / "console.log").read_text()


def test_inventory_from_nodes() -> None:
    request = BuildRequest(
        uuid="u", job="j", playbook=Path("/p.yaml"), zuul_vars={}, timeout=1,
        nodes=[{"name": "a", "host": "localhost", "connection": "local"},
               {"name": "b", "host": "192.0.2.1", "connection": "ssh", "port": 2222,
                "username": "zuul"}])
    hosts = yaml.safe_load(yaml.safe_dump(inventory(request)))["all"]["hosts"]
    assert hosts["a"]["ansible_connection"] == "local"
    assert "ansible_python_interpreter" in hosts["a"]
    assert hosts["b"] == {"ansible_host": "192.0.2.1", "ansible_connection": "ssh",
                          "ansible_port": 2222, "ansible_user": "zuul"}


async def test_cancelled_run_kills_the_build(executor: Executor, log_root: Path,
                                             workdir: Path) -> None:
    pid_file = workdir / "sleep.pid"
    request = build_request("sleep.yaml", timeout=120, pid_file=str(pid_file))
    task = asyncio.create_task(executor.run(request))
    pid = await wait_until(lambda: read_pid(pid_file), 30, "the sleep task to start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: not alive(pid), 5, f"sleep (PID {pid}) to be gone")
    record = json.loads((log_root / request.uuid / "build.json").read_text())
    assert (record["result"], record["error"]) == ("ABORTED", "cancelled")
    assert executor.running() == []
