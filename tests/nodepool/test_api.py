"""The launcher's API on every path, in JSON and text, directly and through Apache."""
from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from nodepool.api.tables import NODE_COLUMNS, REQUEST_COLUMNS
from nodepool.zk import NodepoolStore
from tests.harness.http import Response, get
from tests.harness.process import wait_for
from tests.harness.servers import console_script
from tests.harness.stack import Stack
from tests.nodepool.conftest import eventually, start_launcher
from zuul.nodes import NodeRequester

SPEC = Path(__file__).resolve().parents[2] / "nodepool" / "openapi.yaml"

CONFIG = {
    "labels": [{"name": "small", "min-ready": 1}, {"name": "static"}],
    "providers": [
        {"name": "localhost", "driver": "local",
         "pools": [{"name": "main", "max-servers": 4, "labels": ["small"]}]},
        {"name": "static", "driver": "static",
         "pools": [{"name": "main", "nodes": [
             {"name": "static-1", "labels": ["static"], "connection-type": "local"}]}]},
    ],
}

JSON_PATHS = ["/api/info", "/api/labels", "/api/nodes", "/api/nodes?label=small",
              "/api/nodes?state=in-use", "/api/requests", "/api/images"]
CLASSIC_PATHS = ["/label-list", "/node-list", "/request-list", "/image-list",
                 "/dib-image-list"]


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(yaml.safe_load(SPEC.read_text()))


def check_against_spec(openapi: OpenAPI, path: str, response: Response) -> None:
    bare, _, query = path.partition("?")
    args = dict(p.split("=", 1) for p in query.split("&")) if query else None
    req = MockRequest("http://localhost", "get", bare, args=args)
    content_type = response.headers["Content-Type"].split(";")[0]
    openapi.validate_response(req, MockResponse(response.body, response.status,
                                                content_type=content_type))


def check_cache_headers(response: Response) -> None:
    assert response.headers["Cache-Control"] == "public, max-age=1"
    assert response.headers["Last-Modified"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def fetch(url: str, headers: dict[str, str] | None = None) -> Response:
    """GET that must succeed with the read caching headers (except /api/info)."""
    response = get(url, headers=headers)
    assert response.status == 200, (url, response.text)
    if not url.endswith("/api/info"):
        check_cache_headers(response)
    return response


def check_every_path(base: str, node_id: str, openapi: OpenAPI) -> None:
    """Every read path under ``base``: JSON validated against the spec, text tables."""
    for path in [*JSON_PATHS, f"/api/node/{node_id}"]:
        response = fetch(base + path)
        assert response.headers["Content-Type"].startswith("application/json")
        check_against_spec(openapi, path, response)
    node = fetch(base + f"/api/node/{node_id}").json()
    assert node["state"] == "in-use" and node["locked"] is True
    assert [n["state"] for n in fetch(base + "/api/nodes?state=in-use").json()] == ["in-use"]
    labels = {lbl["name"]: lbl for lbl in fetch(base + "/api/labels").json()}
    assert labels["small"]["min_ready"] == 1 and labels["static"]["in_use"] == 1
    assert fetch(base + "/api/requests").json()[0]["node_types"] == ["static"]
    assert fetch(base + "/api/images").json() == []

    for path in CLASSIC_PATHS:
        text = fetch(base + path)
        assert text.headers["Content-Type"].startswith("text/plain")
        assert text.text.startswith("+-")
        check_against_spec(openapi, path, text)
        for url, headers in ((base + path, {"Accept": "application/json"}),
                             (base + path + "?format=json", None)):
            as_json = fetch(url, headers)
            assert isinstance(as_json.json(), list)
            check_against_spec(openapi, path, as_json)
    node_list = fetch(base + "/node-list").text
    for heading in NODE_COLUMNS.values():
        assert heading in node_list.splitlines()[1]
    assert "static-1" in node_list and "in-use" in node_list
    rows = fetch(base + "/request-list?format=json").json()
    assert set(rows[0]) == set(REQUEST_COLUMNS) and rows[0]["state"] == "pending"
    picked = fetch(base + f"/node-list?format=json&fields=id,state&node_id={node_id}").json()
    assert picked == [{"id": node_id, "state": "in-use"}]
    header = fetch(base + "/node-list?fields=id,label,locked").text.splitlines()[1]
    assert [c.strip() for c in header.strip("|").split("|")] == ["ID", "Label", "Locked"]


async def test_every_path_json_and_text_direct_and_through_apache(
        zk_stack: Stack, requester: NodeRequester, store: NodepoolStore,
        openapi: OpenAPI) -> None:
    launcher = start_launcher(zk_stack, "launcher-api", CONFIG)
    apache = zk_stack.apache(zuul={"scheduler": "127.0.0.1:9"},
                             nodepool={"launcher": f"127.0.0.1:{launcher.port}"})
    in_use = await asyncio.wait_for(requester.request(["static"], "build-1"), 20)
    waiting = asyncio.create_task(requester.request(["static"], "build-2"))
    await eventually(lambda: len(store.requests()) == 1, what="a pending request")
    await eventually(lambda: any(n.label == "small" and n.state == "ready"
                                 for n in store.nodes()), what="min-ready node")
    for base in (launcher.url, apache.url + "/nodepool"):
        await asyncio.to_thread(check_every_path, base, in_use.nodes[0].id, openapi)
    cli = await asyncio.to_thread(subprocess.run, [
        console_script("nodepool"), "--url", apache.url + "/nodepool/", "--json", "list",
        "--fields", "id,state"], capture_output=True, text=True, timeout=30)
    assert {"id": in_use.nodes[0].id, "state": "in-use"} in json.loads(cli.stdout)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await requester.release(in_use)


def test_bad_input_gets_json_errors(zk_stack: Stack) -> None:
    launcher = start_launcher(zk_stack, "launcher-errors", CONFIG)
    cases = {
        "/node-list?fields=id,nope": (400, "nope"),
        "/label-list?format=xml": (400, "format"),
        "/api/nodes?state=sleeping": (400, "state"),
        "/api/node/0000009999": (404, "0000009999"),
        "/api/no-such-thing": (404, ""),
    }
    for path, (status, mention) in cases.items():
        response = get(launcher.url + path)
        assert response.status == status, path
        body = response.json()
        assert set(body) == {"error", "description"} and mention in body["description"]


def test_etag_and_refresh_after_a_change(zk_stack: Stack, store: NodepoolStore) -> None:
    """A matching ETag answers 304; a change shows up once the 1 s snapshot expires."""
    launcher = start_launcher(zk_stack, "launcher-cache", CONFIG)
    first = wait_for(lambda: (r := get(launcher.url + "/api/nodes")).json() and r, 10,
                     what="nodes listed")
    again = get(launcher.url + "/api/nodes", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    node = store.get_node(first.json()[0]["id"])
    node.comment = "changed behind the API's back"
    store.update_node(node, state_changed=False)
    wait_for(lambda: any(n["comment"] for n in get(launcher.url + "/api/nodes").json()), 5,
             what="the change visible after the cache expired")


def test_openapi_document_is_served(zk_stack: Stack) -> None:
    launcher = start_launcher(zk_stack, "launcher-doc", CONFIG)
    response = get(launcher.url + "/api/openapi.yaml")
    assert response.status == 200
    assert yaml.safe_load(response.text)["openapi"].startswith("3.")
