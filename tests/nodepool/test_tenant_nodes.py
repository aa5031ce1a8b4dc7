"""Zuul's tenant ``nodes`` API lists the in-use nodes of running builds, with their build.

A real scheduler runs a build on a node from a real launcher (ZooKeeper in between); while
the build runs, ``/api/tenant/{t}/nodes`` shows that node ``in-use``, allocated to the
build's node request and tied to the build by ``build_uuid`` (Nodepool's ``user_data``).
"""
from __future__ import annotations

from typing import Any

from nodepool.zk import NodepoolStore, NodeState
from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import (
    Events,
    edit_tenant,
    items,
    pr_body,
    start_scheduler,
    status,
    tenant_file,
)
from tests.scheduler.github_api import GitHubAPI

LAUNCHER = {
    "labels": [{"name": "ubuntu-jammy"}],
    "providers": [{"name": "localhost", "driver": "local",
                   "pools": [{"name": "main", "max-servers": 4, "labels": ["ubuntu-jammy"]}]}],
}


def _add_waiting_job(data: dict[str, Any]) -> None:
    tenant = data["tenants"][0]
    tenant["jobs"].append({"name": "slow-on-node", "playbook": "playbooks/slow.yaml",
                           "nodeset": ["ubuntu-jammy"], "vars": {"zuul_slow_seconds": 120}})
    tenant["projects"].append({"name": "org/wait", "pipelines": {"check": ["slow-on-node"]}})


def test_in_use_node_listed_with_its_build(zk_stack: Stack, github_api: GitHubAPI,
                                           store: NodepoolStore) -> None:
    geard = zk_stack.gearman()
    zk_stack.launcher("tenant-nodes", **{"launcher-name": "tenant-nodes", **LAUNCHER})
    tenants = tenant_file(zk_stack.workdir)
    edit_tenant(tenants, _add_waiting_job)
    scheduler = start_scheduler(zk_stack, geard, github_api, tenants,
                                zookeeper=zk_stack.zookeeper_conf())
    api = scheduler.url + "/api/tenant/example"
    # Nothing listed before the build (503 until the scheduler's ZooKeeper session is up).
    wait_for(lambda: (r := get(api + "/nodes")).status == 200 and r.json() == [], 30,
             what="an empty nodes list")
    events = Events(geard)
    try:
        assert events.send("pull_request", pr_body("org/wait", 3, "3" * 40)) == "accepted"
    finally:
        events.close()

    def running() -> dict[str, Any] | None:
        jobs = [j for i in items(status(scheduler.url), "check") for j in i["jobs"]]
        return next((j for j in jobs if j["name"] == "slow-on-node" and j["uuid"]
                     and j["start_time"]), None)

    job = wait_for(running, 90, what="slow-on-node running on its node")
    listed = wait_for(lambda: [n for n in get(api + "/nodes").json()
                               if n["state"] == "in-use"], 30, what="the in-use node listed")
    assert len(listed) == 1, listed
    node = listed[0]
    assert node["build_uuid"] == job["uuid"]
    assert node["type"] == ["ubuntu-jammy"] and node["provider"] == "localhost"
    assert node["is_locked"] is True and node["allocated_to"]
    # What the API says is what ZooKeeper holds (Nodepool 11's record).
    record = store.get_node(node["id"])
    assert record is not None and record.state == NodeState.IN_USE
    assert record.tenant_name == "example" and record.allocated_to == node["allocated_to"]
    assert record.user_data == {"build_uuid": job["uuid"]}
    assert store.node_locked(node["id"])
    assert get(scheduler.url + "/api/tenant/nope/nodes").status == 404
