"""Admin hold/delete with bearer tokens, and the ``nodepool`` command-line client."""
from __future__ import annotations

import asyncio
import json
import subprocess
import time

import jwt

from nodepool.zk import NodepoolStore
from tests.harness.http import request
from tests.harness.ports import free_port
from tests.harness.servers import HTTPService, console_script
from tests.harness.stack import Stack
from tests.nodepool.conftest import eventually, start_launcher, static_config
from zuul.nodes import NodeRequester

AUTH = {"algorithm": "HS256", "secret": "test-secret-which-is-long-enough-for-hs256",
        "issuer": "https://issuer.example", "audience": "nodepool"}
HOSTS = [{"name": "static-1", "labels": ["static"], "connection-type": "local"},
         {"name": "static-2", "labels": ["static"], "connection-type": "local"}]


def token(scopes: list[str]) -> str:
    claims = {"iss": AUTH["issuer"], "aud": AUTH["audience"], "exp": int(time.time()) + 600,
              "sub": "admin", "zuul": {"admin": scopes}}
    return jwt.encode(claims, AUTH["secret"], algorithm="HS256")


def nodepool_cli(launcher: HTTPService, *args: str, bearer: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
    argv = [console_script("nodepool"), "--url", launcher.url + "/", *args]
    if bearer:
        argv[1:1] = ["--token", bearer]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def ready_static(store: NodepoolStore) -> list[str]:
    return [n.id for n in store.nodes() if n.state == "ready" and not n.allocated_to]


async def test_admin_hold_and_delete(zk_stack: Stack, requester: NodeRequester,
                                     store: NodepoolStore) -> None:
    launcher = start_launcher(zk_stack, "launcher-admin", {**static_config(HOSTS), "auth": AUTH})
    node_ids = await eventually(lambda: len(ready_static(store)) == 2 and ready_static(store),
                                what="static nodes registered")
    url = f"{launcher.url}/api/node/{node_ids[0]}/hold"

    anonymous = request("POST", url)
    assert anonymous.status == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong_scope = request("POST", url, headers={"Authorization": f"Bearer {token(['t1'])}"})
    assert wrong_scope.status == 403 and wrong_scope.json()["error"] == "forbidden"
    admin = {"Authorization": f"Bearer {token(['nodepool'])}"}
    bad_body = request("POST", url, body=b"[1", headers={**admin,
                                                          "Content-Type": "application/json"})
    assert bad_body.status == 400
    held = request("POST", url, body={"reason": "look at it"}, headers=admin)
    assert held.status == 200 and held.json()["node"]["state"] == "hold"
    assert store.get_node(node_ids[0]).comment == "look at it"

    # The held node is not handed out; the other one is, and while in use it is locked.
    nodeset = await asyncio.wait_for(requester.request(["static"], "build-1"), 20)
    assert nodeset.nodes[0].id == node_ids[1]
    busy = request("POST", f"{launcher.url}/api/node/{node_ids[1]}/hold", headers=admin)
    assert busy.status == 409 and "locked" in busy.json()["description"]
    await requester.release(nodeset)
    missing = request("POST", f"{launcher.url}/api/node/0000099999/delete", headers=admin)
    assert missing.status == 404

    # Deleting a static node removes it; the launcher registers the host again, ready.
    deleted = request("POST", f"{launcher.url}/api/node/{node_ids[0]}/delete", headers=admin)
    assert deleted.status == 200 and deleted.json()["node"]["state"] == "deleting"
    await eventually(lambda: store.get_node(node_ids[0]) is None, what="held node deleted")
    await eventually(lambda: len(ready_static(store)) == 2, what="static host re-registered")


def test_admin_without_auth_section_is_forbidden(zk_stack: Stack) -> None:
    launcher = start_launcher(zk_stack, "launcher-noauth", static_config(HOSTS))
    response = request("POST", f"{launcher.url}/api/node/0000000000/hold",
                       headers={"Authorization": f"Bearer {token(['*'])}"})
    assert response.status == 403 and "no auth section" in response.json()["description"]


def test_cli_lists_holds_and_reports_errors(zk_stack: Stack, store: NodepoolStore) -> None:
    launcher = start_launcher(zk_stack, "launcher-cli", {**static_config(HOSTS), "auth": AUTH})
    listing = nodepool_cli(launcher, "list")
    assert listing.returncode == 0 and "| ID" in listing.stdout
    rows = json.loads(nodepool_cli(launcher, "--json", "list", "--fields", "id,state").stdout)
    assert rows and all(set(r) == {"id", "state"} for r in rows)
    labels = json.loads(nodepool_cli(launcher, "--json", "labels").stdout)
    assert labels[0]["label"] == "static" and labels[0]["total"] == 2
    assert "Request ID" in nodepool_cli(launcher, "requests").stdout

    node_id = rows[0]["id"]
    refused = nodepool_cli(launcher, "hold", node_id)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "token" in refused.stderr
    forbidden = nodepool_cli(launcher, "hold", node_id, bearer=token(["other"]))
    assert forbidden.returncode == 1 and "403" in forbidden.stderr
    held = nodepool_cli(launcher, "hold", node_id, "--reason", "cli", bearer=token(["*"]))
    assert held.returncode == 0 and held.stdout.strip() == f"node {node_id}: hold"
    assert store.get_node(node_id).state == "hold"

    unknown = nodepool_cli(launcher, "list", "--fields", "bogus")
    assert unknown.returncode == 1 and "bogus" in unknown.stderr
    unreachable = subprocess.run(
        [console_script("nodepool"), "--url", f"http://127.0.0.1:{free_port()}/", "list"],
        capture_output=True, text=True, timeout=30)
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("error: cannot reach")
    assert unreachable.stderr.count("\n") == 1
