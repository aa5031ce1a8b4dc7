"""kill -9 of a scheduler whose pipeline state is in ZooKeeper: nothing is lost.

Real zuul-scheduler, geard, ZooKeeper and ansible-playbook; GitHub is the stand-in.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from tests.durable.conftest import builds, durable_scheduler, item_ids, processes_under, sha
from tests.harness.http import status_of
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, items, pr_body, status, tenant_file
from tests.scheduler.github_api import GitHubAPI

PRS = [21, 22, 23, 24, 25]



def _running(url: str) -> int:
    try:
        return sum(1 for i in items(status(url), "check") for j in i["jobs"]
                   if j["start_time"] is not None and j["result"] is None)
    except OSError:
        return 0


def test_kill_9_with_builds_running_loses_nothing(zk_stack: Stack,
                                                   github_api: GitHubAPI) -> None:
    stack = zk_stack
    geard = stack.gearman()
    scheduler = durable_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    work_root = stack.workdir / "scheduler-state" / "work"
    log_root = stack.workdir / "scheduler-state" / "logs"
    events = Events(geard)
    try:
        for number in PRS:
            assert events.send("pull_request", pr_body("org/slow", number, sha(number))) \
                == "accepted"
        expected = [f"{n},{sha(n)}" for n in PRS]
        assert item_ids(scheduler.url, "check") == expected
        wait_for(lambda: _running(scheduler.url) >= 4, 30, what="four builds running")
        first = {j["uuid"] for i in items(status(scheduler.url), "check") for j in i["jobs"]
                 if j["uuid"]}

        scheduler.kill()
        killed_at = time.monotonic()
        # The playbooks die with the scheduler (PR_SET_PDEATHSIG); what ansible forked is
        # killed by the restarted scheduler before it runs the jobs again.
        scheduler.start()
        answering = time.monotonic()
        wait_for(lambda: item_ids(scheduler.url, "check") == expected, 5,
                 what="the five items back in the same order")
        restored_in = time.monotonic() - killed_at
        # From kill -9: the process start (Python imports) dominates, and it varies with the
        # machine's load; once the new process answers, the items are back at once.
        print(f"kill -9 to the items back: {restored_in:.2f}s, of which "
              f"{time.monotonic() - answering:.2f}s after the new process answered")
        assert restored_in < 30, restored_in
        wait_for(lambda: not processes_under(work_root) or _running(scheduler.url), 10,
                 what="no process of a lost build left")
        # The restored scheduler removes the lost builds' work dirs once their processes
        # are gone (after it answers, not before): wait for that, with a deadline.
        wait_for(lambda: not any((work_root / u).exists() for u in first), 30,
                 what="the lost builds' work dirs removed")

        # Every PR gets exactly one final status, once.
        for number in PRS:
            wait_for(lambda n=number: ("zuul/check", "success") in github_api.statuses(
                sha(n)), 60, what=f"final status of PR {number}")
            wait_for(lambda n=number: github_api.comments("org/slow", n), 10,
                     what=f"final comment on PR {number}")
        wait_for(lambda: item_ids(scheduler.url, "check") == [], 10, what="check empty")
        for number in PRS:
            finals = [s for s in github_api.statuses(sha(number)) if s[1] != "pending"]
            assert finals == [("zuul/check", "success")], github_api.dump()
            assert len(github_api.comments("org/slow", number)) == 1

        # History: the lost builds ended ABORTED with the reason, then ran again.
        wait_for(lambda: len([r for n in PRS for r in builds(scheduler.url, change=str(n))])
                 >= len(PRS) + len(first), 10, what="every history row")
        for number in PRS:
            rows = builds(scheduler.url, change=str(number))
            results = sorted(r["result"] for r in rows)
            assert results in (["SUCCESS"], ["ABORTED", "SUCCESS"]), rows
        aborted = [r for n in PRS for r in builds(scheduler.url, change=str(n))
                   if r["result"] == "ABORTED"]
        assert {r["uuid"] for r in aborted} == first
        for row in aborted:
            assert "scheduler stopped" in row["error_detail"]
            record = json.loads((log_root / row["uuid"] / "build.json").read_text())
            assert record["result"] == "ABORTED"
        assert not processes_under(work_root)
        assert sorted(p.name for p in Path(work_root).iterdir()) == []
        assert status_of(scheduler.url + "/health/ready") == 200
    finally:
        events.close()
