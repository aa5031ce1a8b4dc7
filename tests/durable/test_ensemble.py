"""A 3-server ZooKeeper ensemble loses its leader with builds running: nothing is lost and
no build fails. Real ZooKeeper ensemble (TLS), zuul-scheduler, zuul-executor, geard,
ansible-playbook; GitHub is the stand-in.
"""
from __future__ import annotations

import pytest

from tests.durable.conftest import builds, durable_scheduler, executor_running, item_ids, sha
from tests.harness.ensemble import ZooKeeperEnsemble
from tests.harness.pki import TestCA
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, items, pr_body, status, tenant_file
from tests.scheduler.github_api import GitHubAPI

SESSION_TIMEOUT = 8.0



@pytest.mark.slow
def test_losing_the_leader_loses_nothing(stack: Stack, pki: TestCA,
                                         github_api: GitHubAPI) -> None:
    ensemble = ZooKeeperEnsemble(stack.workdir / "ensemble", pki)
    for member in ensemble.members:
        stack.procs.add(member)
    ensemble.start()
    ensemble.create_chroot("/durable")
    zk_conf = {**ensemble.conf("/durable"), "session_timeout": SESSION_TIMEOUT}
    geard = stack.gearman()
    exe = stack.service("zuul-executor-e1", "zuul-executor", {
        "zookeeper": zk_conf, "state_dir": str(stack.workdir / "executor-e1"),
        "executor": {"name": "e1", "log_root": str(stack.workdir / "logs")}})
    scheduler = durable_scheduler(stack, geard, github_api, tenant_file(stack.workdir),
                                  zookeeper=zk_conf, executor={"external": True})
    events = Events(geard)
    numbers = [71, 72, 73]
    try:
        for number in numbers:
            assert events.send("pull_request", pr_body("org/slow", number, sha(number))) \
                == "accepted"
        wait_for(lambda: len(executor_running(exe)) == 3, 30, what="three builds running")
        running = set(executor_running(exe))
        leader = ensemble.leader()
        assert leader is not None
        leader.kill()
        wait_for(lambda: ensemble.leader() not in (None, leader), 30,
                 what="a new leader")
        # A new event while the old leader is gone is taken and kept.
        assert events.send("pull_request", pr_body("org/slow", 74, sha(74))) == "accepted"
        numbers.append(74)
        assert f"74,{sha(74)}" in item_ids(scheduler.url, "check")
        leader.start()  # back as a follower
        for number in numbers:
            wait_for(lambda n=number: ("zuul/check", "success") in github_api.statuses(
                sha(n)), 90, what=f"final status of PR {number}")
        for number in numbers:
            finals = [s for s in github_api.statuses(sha(number)) if s[1] != "pending"]
            assert finals == [("zuul/check", "success")], github_api.dump()
        rows = wait_for(lambda: len(r := [r for n in numbers
                                           for r in builds(scheduler.url, change=str(n))])
                        >= 4 and r, 10, what="the history rows")
        assert {r["result"] for r in rows} == {"SUCCESS"}, rows
        assert running <= {r["uuid"] for r in rows}  # the same builds, not re-runs
        assert len(rows) == 4
        assert not [i for i in items(status(scheduler.url), "check")]
    finally:
        events.close()
