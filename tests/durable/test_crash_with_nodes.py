"""kill -9 of the scheduler while its builds hold static nodes from a real launcher.

Real zuul-scheduler (in-process executor), nodepool-launcher (static driver), geard, ZooKeeper
and ansible-playbook; GitHub is the stand-in. The nodes are neither leaked nor handed to a new
build while a process of the killed build may still run: the killed scheduler's session ends,
the launcher takes the nodes back, and the restarted scheduler kills the leftovers before it
runs the jobs again on them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.durable.conftest import (
    builds,
    durable_scheduler,
    held_job_tenant,
    item_ids,
    node_records,
    processes_under,
    sha,
)
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.nodepool.conftest import start_launcher, static_config
from tests.scheduler.conftest import Events, pr_body
from tests.scheduler.github_api import GitHubAPI

PRS = [51, 52]
HOSTS = ["static-1", "static-2"]



def _nodes(stack: Stack) -> list[dict[str, Any]]:
    """Every node record, with ``locked`` (whether anybody holds its lock)."""
    assert stack.zookeeper is not None
    client = stack.zookeeper.admin_client(stack.zk_chroot)
    try:
        return node_records(client, locks=True)
    finally:
        client.stop()
        client.close()


def _users(stack: Stack) -> dict[str, str]:
    """hostname -> the build using it (in-use nodes)."""
    return {n["hostname"]: (n.get("user_data") or {}).get("build_uuid", "")
            for n in _nodes(stack) if n["state"] == "in-use"}


@pytest.mark.slow
def test_kill_9_with_builds_holding_nodes(zk_stack: Stack, github_api: GitHubAPI) -> None:
    stack = zk_stack
    release = stack.workdir / "release"
    tenants = held_job_tenant(stack.workdir, release)
    start_launcher(stack, "launcher-static", static_config(
        [{"name": h, "labels": ["ubuntu-jammy"], "connection-type": "local"} for h in HOSTS]))
    geard = stack.gearman()
    scheduler = durable_scheduler(stack, geard, github_api, tenants)
    work_root: Path = stack.workdir / "scheduler-state" / "work"
    events = Events(geard)
    try:
        for number in PRS:
            assert events.send("pull_request", pr_body("org/nodes", number, sha(number))) \
                == "accepted"
        expected = [f"{n},{sha(n)}" for n in PRS]
        first = wait_for(lambda: (u := _users(stack)) and len(u) == 2 and all(u.values())
                         and u, 60, what="both static nodes in use by a build")
        old = set(first.values())
        wait_for(lambda: all(processes_under(work_root / u) for u in old), 60,
                 what="both playbooks running")

        scheduler.kill()
        scheduler.start()
        wait_for(lambda: item_ids(scheduler.url, "check") == expected, 30,
                 what="the items back in the same order")

        # Until a new build holds each node: every sample, a node in use by a new build
        # has no process of a killed build left anywhere, and no node has two users.
        def new_builds_on_both() -> bool:
            users = _users(stack)
            for _host, uuid in users.items():
                if uuid and uuid not in old:
                    left = [u for u in old if processes_under(work_root / u)]
                    assert not left, f"node reused by {uuid} while {left} still run"
            return len(users) == 2 and not (set(users.values()) & old) \
                and all(users.values())

        wait_for(new_builds_on_both, 120, interval=0.1, what="new builds on both nodes")
        release.write_text("go\n")
        for number in PRS:
            wait_for(lambda n=number: ("zuul/check", "success") in github_api.statuses(
                sha(n)), 120, what=f"final status of PR {number}")
        wait_for(lambda: item_ids(scheduler.url, "check") == [], 30, what="check empty")
        for number in PRS:
            finals = [s for s in github_api.statuses(sha(number)) if s[1] != "pending"]
            assert finals == [("zuul/check", "success")], (number, finals)
        history = builds(scheduler.url, project="org/nodes")
        by_uuid = {b["uuid"]: b["result"] for b in history}
        assert all(by_uuid.get(u) == "ABORTED" for u in old), history
        assert sorted(r for u, r in by_uuid.items() if u not in old) == ["SUCCESS"] * 2
        # Not leaked: both static nodes back ready, unallocated and unlocked.
        wait_for(lambda: sorted((n["hostname"], n["state"], n["allocated_to"], n["locked"])
                                for n in _nodes(stack))
                 == [(h, "ready", None, False) for h in HOSTS], 60,
                 what="both static nodes ready again")
        wait_for(lambda: not processes_under(work_root), 30, what="no build process left")
    finally:
        release.write_text("go\n")
        events.close()
