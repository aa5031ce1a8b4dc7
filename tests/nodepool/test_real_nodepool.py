"""Our ZooKeeper records are Nodepool 11's: proved with real Nodepool 11 and real Zuul 14.

- the real ``nodepool list`` / ``request-list`` show our launcher's nodes and Zuul's requests
  with their labels;
- real Zuul 14's ZooKeeper code (``ZooKeeperNodepool``) gets nodes from our launcher;
- a real Nodepool 11 launcher (static driver) gives our scheduler the node a build runs on.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nodepool.zk import NodepoolStore, NodeState
from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.nodepool.conftest import eventually, start_launcher, static_config
from tests.nodepool.external import (
    EXTERNAL_ACL,
    ZUUL_IDENTITY,
    RealNodepoolLauncher,
    nodepool_cli,
    nodepool_config,
    run_zuul_script,
)
from tests.scheduler.conftest import (
    Events,
    pr_body,
    start_scheduler,
    tenant_file,
)
from tests.scheduler.github_api import GitHubAPI
from zuul.nodes import NodeRequester

HOSTS = [{"name": "static-a", "labels": ["small", "tiny"], "connection-type": "local"}]
ZUUL14_SCRIPT = (Path(__file__).parent / "zuul14_requestor.py").read_text()


@pytest.fixture
async def shared_requester(zk_stack: Stack) -> AsyncIterator[NodeRequester]:
    """Our Zuul side, with ZooKeeper ACLs that let the real Nodepool and Zuul in."""
    assert zk_stack.zookeeper is not None
    conf = {**zk_stack.zookeeper.conf(zk_stack.zk_chroot, acl=EXTERNAL_ACL),
            "session_timeout": 4.0}
    requester = NodeRequester(conf, "zuul-ours")
    await requester.start()
    yield requester
    await requester.stop()


def shared_launcher(zk_stack: Stack, name: str = "launcher-ours") -> None:
    assert zk_stack.zookeeper is not None
    start_launcher(zk_stack, name, {
        **static_config(HOSTS),
        "zookeeper": {**zk_stack.zookeeper.conf(zk_stack.zk_chroot, acl=EXTERNAL_ACL),
                      "session_timeout": 4.0}})


async def test_real_nodepool_cli_lists_our_nodes_and_requests(
        zk_stack: Stack, shared_requester: NodeRequester, store: NodepoolStore) -> None:
    assert zk_stack.zookeeper is not None
    shared_launcher(zk_stack)
    taken = await asyncio.wait_for(shared_requester.request(["small"], "build-1"), 20)
    waiting = asyncio.create_task(shared_requester.request(["tiny"], "build-2",
                                                           relative_priority=3))
    await eventually(lambda: len(store.requests()) == 1, what="the second request waiting")
    config = nodepool_config(zk_stack.zookeeper, zk_stack.zk_chroot, zk_stack.workdir)
    try:
        listing = await asyncio.to_thread(nodepool_cli, config, "list")
        node_id = taken.nodes[0].id
        row = next(line for line in listing.splitlines() if f" {node_id} " in line)
        assert "small" in row and "tiny" in row and "in-use" in row and "static" in row, row
        requests = await asyncio.to_thread(nodepool_cli, config, "request-list")
        pending = store.requests()[0]
        row = next(line for line in requests.splitlines() if f" {pending.id} " in line)
        assert "tiny" in row and "zuul-ours" in row, row
        # Nodepool's own reading of our raw records.
        raw, _ = store.client.get(f"/nodepool/nodes/{node_id}")
        record = json.loads(raw)
        assert record["type"] == ["small", "tiny"] and record["connection_port"] == 22
        assert "id" not in record  # the id is the znode name, as in Nodepool
        raw, _ = store.client.get(f"/nodepool/requests/{pending.id}")
        request = json.loads(raw)
        for key in ("requestor_data", "provider", "event_id", "relative_priority",
                    "tenant_name", "reuse", "created_time"):
            assert key in request, key
        assert request["relative_priority"] == 3
    finally:
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    await shared_requester.release(taken)


async def test_keys_we_do_not_use_survive_our_rewrites(
        zk_stack: Stack, shared_requester: NodeRequester, store: NodepoolStore) -> None:
    """A node carrying a real Nodepool's keys goes through our requester and launcher."""
    shared_launcher(zk_stack)
    await eventually(lambda: len(store.nodes()) == 1, what="the static node registered")
    node = store.nodes()[0]
    extra = {"cloud": "cloud-1", "region": "r1", "az": "az1", "host_keys": ["ssh-ed25519 AAA"],
             "python_path": "/usr/bin/python3", "external_id": "srv-42",
             "driver_data": {"x": 1}, "node_properties": {"spot": False},
             "future_key": {"from": "a newer Nodepool"}}
    node.data.update(extra)
    store.update_node(node, state_changed=False)
    taken = await asyncio.wait_for(shared_requester.request(["small"], "build-1"), 20)
    await shared_requester.release(taken)
    await eventually(lambda: store.get_node(node.id).state == NodeState.READY
                     and store.get_node(node.id).version >= node.version + 3, 20,
                     what="node used and recycled")
    raw, _ = store.client.get(f"/nodepool/nodes/{node.id}")
    after = json.loads(raw)
    assert {k: after[k] for k in extra} == extra


@pytest.mark.slow
async def test_our_launcher_serves_real_zuul_14(zk_stack: Stack, store: NodepoolStore) -> None:
    assert zk_stack.zookeeper is not None
    shared_launcher(zk_stack)
    tls = zk_stack.zookeeper.ca.identity(ZUUL_IDENTITY)
    hosts = zk_stack.zookeeper.hosts + zk_stack.zk_chroot
    out = await asyncio.to_thread(run_zuul_script, ZUUL14_SCRIPT, hosts, str(tls.cert),
                                  str(tls.key), str(tls.ca), "tiny")
    result = json.loads(out)
    assert {"id": "launcher-ours-static-main", "supported_labels": ["small", "tiny"]} \
        in result["launchers"]
    assert result["state"] == "fulfilled", result
    [node] = result["nodes"]
    assert node["type"] == ["small", "tiny"] and node["connection_type"] == "local"
    assert node["allocated_to"] == result["request_id"] and node["state"] == "ready"
    # Zuul 14 returned the nodes as used: our launcher recycles them.
    await eventually(lambda: all(n.state == NodeState.READY and not n.allocated_to
                                 for n in store.nodes()), 20, what="nodes recycled")
    assert store.requests() == []


@pytest.mark.slow
def test_real_nodepool_launcher_serves_our_scheduler(
        zk_stack: Stack, store: NodepoolStore, github_api: GitHubAPI) -> None:
    assert zk_stack.zookeeper is not None
    zookeeper = zk_stack.zookeeper
    geard = zk_stack.gearman()
    # Nodepool's static driver checks that the host answers on connection-port (TCP); with
    # the ``local`` connection nothing else uses the port, so point it at geard's.
    config = nodepool_config(zookeeper, zk_stack.zk_chroot, zk_stack.workdir,
                             labels=["ubuntu-jammy"],
                             nodes=[{"name": "127.0.0.1", "labels": ["ubuntu-jammy"],
                                     "connection-type": "local", "connection-port": geard.port,
                                     "username": "root"}])
    zk_stack.add(RealNodepoolLauncher(config, store, "real-static", zk_stack.workdir))
    scheduler = start_scheduler(
        zk_stack, geard, github_api, tenant_file(zk_stack.workdir),
        zookeeper={**zookeeper.conf(zk_stack.zk_chroot, acl=EXTERNAL_ACL),
                   "session_timeout": 4.0})
    events = Events(geard)
    try:
        assert events.send("pull_request", pr_body("org/nodes", 9, "9" * 40)) == "accepted"
    finally:
        events.close()
    url = scheduler.url + "/api/tenant/example/builds?change=9"
    wait_for(lambda: len(get(url).json()) == 2, 90, what="both node builds finished")
    builds = {b["job_name"]: b for b in get(url).json()}
    assert builds["on-node"]["result"] == "SUCCESS", builds
    assert builds["broken-on-node"]["result"] == "FAILURE", builds
    nodes = store.nodes()
    assert nodes and all(n.provider == "real-static" for n in nodes)
    listing = nodepool_cli(config, "list")
    assert "ubuntu-jammy" in listing and "real-static" in listing
