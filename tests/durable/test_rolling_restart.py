"""The documented scheduler upgrade (doc/deploy.rst, "Rolling restart"), with builds running:
stop the active scheduler (SIGTERM), the standby takes over, start the stopped one again (now
the standby), then the same for the other. Nothing is lost, nothing reported twice.
"""
from __future__ import annotations

import time

from tests.durable.conftest import builds, executor, executor_running, item_ids, sha
from tests.durable.test_standby import _role, _scheduler
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, pr_body, tenant_file
from tests.scheduler.github_api import GitHubAPI


def test_rolling_restart_with_builds_running(zk_stack: Stack, github_api: GitHubAPI) -> None:
    stack = zk_stack
    geard = stack.gearman()
    tenants = tenant_file(stack.workdir)
    exe = executor(stack, "e1", stack.workdir / "logs")
    first = _scheduler(stack, "a", geard, github_api, tenants)
    wait_for(lambda: _role(first).get("active"), 10, what="a active")
    second = _scheduler(stack, "b", geard, github_api, tenants)
    events = Events(geard)
    numbers = [61, 62]
    try:
        for number in numbers:
            assert events.send("pull_request", pr_body("org/slow", number, sha(number))) \
                == "accepted"
        wait_for(lambda: len(executor_running(exe)) == 2, 30, what="two builds running")
        running = set(executor_running(exe))

        # Step 1: stop the active one; the standby takes over at once (lock released).
        stopped = time.monotonic()
        first.stop()
        wait_for(lambda: _role(second).get("active"), 10, what="b active")
        print(f"takeover after a graceful stop: {time.monotonic() - stopped:.2f}s")
        assert set(executor_running(exe)) <= running  # the builds were not touched
        # Step 2: start it again with the new version: it is the standby now.
        first.start()
        assert _role(first)["active"] is False
        assert events.send("pull_request", pr_body("org/slow", 63, sha(63))) == "accepted"
        numbers.append(63)
        # Step 3: the same for the other scheduler.
        second.stop()
        wait_for(lambda: _role(first).get("active"), 10, what="a active again")
        second.start()
        assert _role(second)["active"] is False

        for number in numbers:
            wait_for(lambda n=number: ("zuul/check", "success") in github_api.statuses(
                sha(n)), 90, what=f"final status of PR {number}")
        wait_for(lambda: item_ids(first.url, "check") == [], 10, what="check empty")
        for number in numbers:
            finals = [s for s in github_api.statuses(sha(number)) if s[1] != "pending"]
            assert finals == [("zuul/check", "success")], github_api.dump()
        rows = wait_for(lambda: len(r := [r for n in numbers
                                           for r in builds(first.url, change=str(n))]) >= 3
                        and r, 10, what="the history rows")
        assert {r["result"] for r in rows} == {"SUCCESS"}, rows
        assert running <= {r["uuid"] for r in rows}
    finally:
        events.close()
