"""The status tells the truth about waiting; readiness follows ZooKeeper.

The queue (in ZooKeeper) survives a SIGTERM restart; a ZooKeeper of the test's own is then
stopped and started again: the scheduler reports not ready meanwhile.
"""
from __future__ import annotations

from tests.durable.conftest import durable_scheduler, item_ids
from tests.harness.http import get, status_of
from tests.harness.process import wait_for
from tests.harness.servers import ZooKeeperServer
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, items, pr_body, status, tenant_file
from tests.scheduler.github_api import GitHubAPI


def test_waiting_for_nodes_shows_waiting_and_ready_follows_zookeeper(
        stack: Stack, github_api: GitHubAPI) -> None:
    zookeeper = stack.add(ZooKeeperServer(stack.workdir / "zk"))
    geard = stack.gearman()
    # The session outlives the outage (a ZooKeeper restart takes seconds on a loaded machine):
    # longer outages are tests/durable/test_zk_outage.py.
    zk_conf = {**zookeeper.conf(), "session_timeout": 10.0}
    scheduler = durable_scheduler(stack, geard, github_api, tenant_file(stack.workdir),
                                  zookeeper=zk_conf)
    events = Events(geard)
    try:
        wait_for(lambda: status_of(scheduler.url + "/health/ready") == 200, 10,
                 what="scheduler ready")
        # No launcher runs: the node requests stay open, so the jobs wait for nodes.
        assert events.send("pull_request", pr_body("org/nodes", 5, "5" * 40)) == "accepted"
        jobs = wait_for(lambda: [j for i in items(status(scheduler.url), "check")
                                 for j in i["jobs"] if j["waiting_status"]], 10,
                        what="jobs waiting for nodes")
        assert {j["name"] for j in jobs} == {"on-node", "broken-on-node"}
        for job in jobs:
            assert job["queued"] is True and job["start_time"] is None, job
            assert job["waiting_status"] == "node request for ubuntu-jammy"

        # The queue is in ZooKeeper: a restarted scheduler finds it there.
        scheduler.stop()
        scheduler.start()
        wait_for(lambda: item_ids(scheduler.url, "check") == [f"5,{'5' * 40}"], 10,
                 what="item restored")

        zookeeper.stop()
        ready = wait_for(lambda: (r := get(scheduler.url + "/health/ready")).status == 503
                         and r, 15, what="not ready without ZooKeeper")
        assert "ZooKeeper" in ready.text
        zookeeper.start()
        wait_for(lambda: status_of(scheduler.url + "/health/ready") == 200, 30,
                 what="ready again")
    finally:
        events.close()


