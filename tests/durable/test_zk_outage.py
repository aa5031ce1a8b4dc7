"""A ZooKeeper outage longer than the session timeout, with builds running and waiting.

Real zuul-scheduler, nodepool-launcher (local driver), geard, ZooKeeper and ansible-playbook;
GitHub is the stand-in. ZooKeeper is stopped and started again unreachable to the services
(on another port) until it has expired their sessions, then back on its port: the scheduler
lost its lock, its node requests and its node locks. It must take the lock again, carry on
with the same items, request the lost nodes again and report every PR once.
"""
from __future__ import annotations

from typing import Any

import pytest
from kazoo.exceptions import NoNodeError

from tests.durable.conftest import (
    builds,
    durable_scheduler,
    held_job_tenant,
    item_ids,
    node_records,
    processes_under,
    sha,
)
from tests.harness.http import get, status_of
from tests.harness.ports import free_port
from tests.harness.process import wait_for
from tests.harness.servers import ZooKeeperServer
from tests.harness.stack import Stack
from tests.nodepool.conftest import local_config
from tests.scheduler.conftest import Events, items, pr_body, status
from tests.scheduler.github_api import GitHubAPI

PRS = [41, 42, 43]
SESSION_TIMEOUT = 4.0



def _jobs(url: str) -> list[dict[str, Any]]:
    try:
        return [j for i in items(status(url), "check") for j in i["jobs"]]
    except OSError:
        return []


def _set_port(zookeeper: ZooKeeperServer, port: int) -> None:
    """Make the (stopped) server listen on ``port`` from its next start."""
    cfg = zookeeper.workdir / "zoo.cfg"
    cfg.write_text(cfg.read_text().replace(f"secureClientPort={zookeeper.port}\n",
                                           f"secureClientPort={port}\n"))
    zookeeper.port = port


def _sessions_expired(zookeeper: ZooKeeperServer) -> bool:
    """True once the server dropped the scheduler's lock znode (ephemeral: its session)."""
    client = zookeeper.admin_client()
    try:
        return not client.get_children("/zuul/scheduler/active")
    except NoNodeError:
        return True
    finally:
        client.stop()
        client.close()


def _nodes(zookeeper: ZooKeeperServer) -> list[dict[str, Any]]:
    client = zookeeper.admin_client()
    try:
        return node_records(client)
    finally:
        client.stop()
        client.close()


@pytest.mark.slow
def test_zookeeper_outage_longer_than_the_session(stack: Stack, github_api: GitHubAPI) -> None:
    zookeeper = stack.add(ZooKeeperServer(stack.workdir / "zk"))
    zk_conf = {**zookeeper.conf(), "session_timeout": SESSION_TIMEOUT}
    release = stack.workdir / "release"
    tenants = held_job_tenant(stack.workdir, release)
    # Two nodes at most: two builds run (holding their nodes), the third waits for nodes.
    launcher = stack.service("launcher-outage", "nodepool-launcher", {
        "launcher-name": "launcher-outage", "zookeeper": zk_conf,
        **local_config({"ubuntu-jammy": 0}, max_servers=2)})
    wait_for(lambda: status_of(launcher.url + "/health/ready", timeout=1) == 200, 30,
             what="launcher connected to ZooKeeper")
    geard = stack.gearman()
    scheduler = durable_scheduler(stack, geard, github_api, tenants, zookeeper=zk_conf)
    work_root = stack.workdir / "scheduler-state" / "work"
    events = Events(geard)
    try:
        for number in PRS:
            assert events.send("pull_request", pr_body("org/nodes", number, sha(number))) \
                == "accepted"
        expected = [f"{n},{sha(n)}" for n in PRS]
        wait_for(lambda: item_ids(scheduler.url, "check") == expected, 30, what="three items")
        wait_for(lambda: sum(1 for j in _jobs(scheduler.url) if j["start_time"]) == 2
                 and sum(1 for j in _jobs(scheduler.url) if j["waiting_status"]) == 1, 60,
                 what="two builds running, one waiting for nodes")
        first_uuids = {j["uuid"] for j in _jobs(scheduler.url) if j["start_time"]}

        # The outage: ZooKeeper up but out of reach until it has expired the sessions.
        original = zookeeper.port
        zookeeper.stop()
        _set_port(zookeeper, free_port())
        zookeeper.start()
        wait_for(lambda: _sessions_expired(zookeeper), SESSION_TIMEOUT * 10,
                 what="the scheduler's session expired")
        zookeeper.stop()
        _set_port(zookeeper, original)
        zookeeper.start()

        # The scheduler takes its lock again and carries on with the same items and builds.
        wait_for(lambda: get(scheduler.url + "/api/scheduler").json()["active"]
                 and _active_holder(zookeeper), 60, what="the scheduler lock taken again")
        assert status_of(scheduler.url + "/health/live") == 200
        # It did lose its session (not just its connection), and resumed in place.
        wait_for(lambda: "resumed" in scheduler.log_path.read_text(), 30,
                 what="the scheduler resumed")
        logged = scheduler.log_path.read_text()
        assert "ZooKeeper session lost while active" in logged
        print("\n".join(line for line in logged.splitlines()
                        if "session" in line or "again" in line or "reclaimed" in line))
        wait_for(lambda: item_ids(scheduler.url, "check") == expected, 30,
                 what="the same items")
        assert {j["uuid"] for j in _jobs(scheduler.url) if j["start_time"]} >= first_uuids

        release.write_text("go\n")
        for number in PRS:
            wait_for(lambda n=number: ("zuul/check", "success") in github_api.statuses(
                sha(n)), 120, what=f"final status of PR {number}")
        wait_for(lambda: item_ids(scheduler.url, "check") == [], 30, what="check empty")
        for number in PRS:
            finals = [s for s in github_api.statuses(sha(number)) if s[1] != "pending"]
            assert finals == [("zuul/check", "success")], (number, finals)
            assert len(github_api.comments("org/nodes", number)) == 1, number
        # History: one SUCCESS per PR (the running builds went on, the waiting one ran).
        history = builds(scheduler.url, project="org/nodes")
        assert sorted(b["result"] for b in history) == ["SUCCESS"] * 3, history
        assert first_uuids <= {b["uuid"] for b in history}
        # Nodes: none left in use or locked by a build that ended; no process left.
        wait_for(lambda: all(n["state"] != "in-use" for n in _nodes(zookeeper)), 60,
                 what="no node left in use")
        wait_for(lambda: not processes_under(work_root), 30, what="no build process left")
        # The running builds' nodes are locked again on the new session; a launcher whose
        # cleanup round comes first reclaims them instead (a race both sides may win: logged,
        # not asserted). Either way the builds above ended once each.
        print("nodes reclaimed by the launcher:",
              launcher.log_path.read_text().count("went away"))
    finally:
        release.write_text("go\n")
        events.close()


def _active_holder(zookeeper: ZooKeeperServer) -> bool:
    client = zookeeper.admin_client()
    try:
        return bool(client.get_children("/zuul/scheduler/active"))
    except NoNodeError:
        return False
    finally:
        client.stop()
        client.close()

