"""Builds on zuul-executor processes: a scheduler crash costs nothing, an executor crash
costs one try. Real zuul-scheduler, zuul-executor, geard, ZooKeeper and ansible-playbook.
"""
from __future__ import annotations

import json

from tests.durable.conftest import (
    builds,
    durable_scheduler,
    executor,
    executor_running,
    item_ids,
    processes_under,
    sha,
)
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, items, pr_body, status, tenant_file
from tests.scheduler.github_api import GitHubAPI


def _job_uuids(url: str) -> set[str]:
    return {j["uuid"] for i in items(status(url), "check") for j in i["jobs"] if j["uuid"]}


def _final_once(github: GitHubAPI, numbers: list[int], state: str = "success") -> None:
    for number in numbers:
        wait_for(lambda n=number: ("zuul/check", state) in github.statuses(sha(n)), 90,
                 what=f"final status of PR {number}")
        wait_for(lambda n=number: github.comments("org/slow", n), 10,
                 what=f"final comment on PR {number}")
    for number in numbers:
        finals = [s for s in github.statuses(sha(number)) if s[1] != "pending"]
        assert finals == [("zuul/check", state)], github.dump()
        assert len(github.comments("org/slow", number)) == 1


def test_scheduler_kill_9_builds_keep_running_on_the_executor(
        zk_stack: Stack, github_api: GitHubAPI) -> None:
    stack = zk_stack
    log_root = stack.workdir / "logs"
    geard = stack.gearman()
    exe = executor(stack, "e1", log_root)
    scheduler = durable_scheduler(stack, geard, github_api, tenant_file(stack.workdir),
                                  executor={"external": True, "log_url":
                                            "http://logs.example/{uuid}/"})
    events = Events(geard)
    numbers = [31, 32, 33]
    try:
        for number in numbers:
            assert events.send("pull_request", pr_body("org/slow", number, sha(number))) \
                == "accepted"
        wait_for(lambda: len(executor_running(exe)) == 3, 30, what="three builds on e1")
        running = set(executor_running(exe))
        assert _job_uuids(scheduler.url) == running

        scheduler.kill()
        # The builds go on without any scheduler.
        assert set(executor_running(exe)) == running
        scheduler.start()
        wait_for(lambda: len(item_ids(scheduler.url, "check")) == 3, 10, what="items back")
        _final_once(github_api, numbers)
        rows = wait_for(lambda: len(r := [r for n in numbers
                                           for r in builds(scheduler.url, change=str(n))])
                        >= len(running) and r, 10, what="the history rows")
        assert sorted(r["uuid"] for r in rows) == sorted(running)
        assert {r["result"] for r in rows} == {"SUCCESS"}
        for uuid in running:
            assert json.loads((log_root / uuid / "build.json").read_text())["result"] \
                == "SUCCESS"
    finally:
        events.close()


def test_executor_kill_9_mid_build_reruns_on_another(zk_stack: Stack,
                                                      github_api: GitHubAPI) -> None:
    stack = zk_stack
    log_root = stack.workdir / "logs"
    geard = stack.gearman()
    first = executor(stack, "e1", log_root)
    scheduler = durable_scheduler(stack, geard, github_api, tenant_file(stack.workdir),
                                  executor={"external": True})
    events = Events(geard)
    try:
        assert events.send("pull_request", pr_body("org/slow", 41, sha(41))) == "accepted"
        [lost] = wait_for(lambda: executor_running(first), 30, what="the build on e1")
        second = executor(stack, "e2", log_root)
        work_first = stack.workdir / "executor-e1" / "work"
        first.kill()
        # ansible-playbook died with its executor (PR_SET_PDEATHSIG); its forked workers
        # follow once it is gone, which takes a few seconds on a loaded machine.
        wait_for(lambda: not [p for p in processes_under(work_first)
                              if "ansible-playbook" in " ".join(p.info["cmdline"] or [])],
                 30,
                 what="the killed executor's playbook gone")
        rerun = wait_for(lambda: executor_running(second), 30, what="the re-run on e2")
        assert rerun != [lost]
        _final_once(github_api, [41])
        rows = wait_for(lambda: len(r := builds(scheduler.url, change="41")) >= 2 and r, 10,
                        what="both history rows")
        assert sorted(r["result"] for r in rows) == ["ABORTED", "SUCCESS"], rows
        aborted = next(r for r in rows if r["result"] == "ABORTED")
        assert aborted["uuid"] == lost
        assert "executor e1" in aborted["error_detail"] and "try 1 of 3" in \
            aborted["error_detail"]
        # The restarted executor ends what it left behind: build.json, no process, no dir.
        first.start()
        record = json.loads((log_root / lost / "build.json").read_text())
        assert record["result"] == "ABORTED"
        assert not processes_under(work_first)
        assert list(work_first.iterdir()) == []
    finally:
        events.close()
