"""Every read endpoint through real Apache, validated against zuul/openapi.yaml; builds on
Nodepool nodes (real launcher, ZooKeeper) with an autohold that holds the failed build's node."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.harness.http import Response, get, request
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import (
    ADMIN_TENANTS,
    Events,
    bearer,
    pr_body,
    start_scheduler,
    tenant_file,
)
from tests.scheduler.github_api import GitHubAPI

SPEC = OpenAPI.from_file_path(str(Path(__file__).resolve().parents[2] / "zuul/openapi.yaml"))
LAUNCHER = {
    "labels": [{"name": "ubuntu-jammy"}],
    "providers": [{"name": "localhost", "driver": "local",
                   "pools": [{"name": "main", "max-servers": 4, "labels": ["ubuntu-jammy"]}]}],
}


def check(method: str, url: str, pattern: str, response: Response,
          body: object = None, headers: dict[str, str] | None = None) -> None:
    """Validate one real response against the OpenAPI document."""
    parts = urlsplit(url)
    path = parts.path.removeprefix("/zuul")
    query = dict(p.split("=", 1) for p in parts.query.split("&") if p)
    req = MockRequest("http://localhost", method.lower(), path, path_pattern=pattern,
                      args=query, headers=headers or {},
                      data=json.dumps(body).encode() if body is not None else None)
    content_type = response.headers.get("Content-Type", "application/json").split(";")[0]
    resp = MockResponse(response.body, response.status, dict(response.headers), content_type)
    SPEC.validate_response(req, resp)


def test_every_endpoint_through_apache(zk_stack: Stack, github_api: GitHubAPI) -> None:
    geard = zk_stack.gearman()
    launcher = zk_stack.launcher("api-launcher", **{"launcher-name": "api-launcher",
                                                    **LAUNCHER})
    scheduler = start_scheduler(zk_stack, geard, github_api, tenant_file(zk_stack.workdir),
                                zookeeper=zk_stack.zookeeper_conf())
    apache = zk_stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"},
                             nodepool={"launcher": f"127.0.0.1:{launcher.port}"})
    base = apache.url + "/zuul"
    admin = bearer(ADMIN_TENANTS)
    hold = request("POST", base + "/api/tenant/example/project/org/nodes/autohold",
                   body={"job": "broken-on-node", "change": "9", "reason": "debug it"},
                   headers=admin)
    assert hold.status == 200, hold.text
    events = Events(geard)
    try:
        events.send("pull_request", pr_body("org/nodes", 9, "9" * 40))
    finally:
        events.close()
    wait_for(lambda: len(get(base + "/api/tenant/example/builds?change=9").json()) == 2, 60,
             what="both node builds finished")
    builds = {b["job_name"]: b for b in get(base + "/api/tenant/example/builds?change=9")
              .json()}
    assert builds["on-node"]["result"] == "SUCCESS", builds
    assert builds["on-node"]["nodeset"] == "ubuntu-jammy"
    assert builds["broken-on-node"]["result"] == "FAILURE" and builds["broken-on-node"]["held"]
    held = get(apache.url + "/nodepool/api/nodes?state=hold").json()
    assert len(held) == 1, held
    autohold = request("GET", base + "/api/tenant/example/autohold", headers=admin).json()
    assert autohold[0]["current_count"] == 1

    uuid = builds["on-node"]["uuid"]
    reads = [
        ("/api/info", "/api/info"),
        ("/api/tenants", "/api/tenants"),
        ("/api/tenant/example/info", "/api/tenant/{tenant}/info"),
        ("/api/tenant/example/status", "/api/tenant/{tenant}/status"),
        ("/api/tenant/example/status/change/9", "/api/tenant/{tenant}/status/change/{change}"),
        ("/api/tenant/example/pipelines", "/api/tenant/{tenant}/pipelines"),
        ("/api/tenant/example/projects", "/api/tenant/{tenant}/projects"),
        ("/api/tenant/example/project/org/project", "/api/tenant/{tenant}/project/{project}"),
        ("/api/tenant/example/jobs", "/api/tenant/{tenant}/jobs"),
        ("/api/tenant/example/job/unit", "/api/tenant/{tenant}/job/{name}"),
        ("/api/tenant/example/labels", "/api/tenant/{tenant}/labels"),
        ("/api/tenant/example/builds?project=org/nodes&limit=1",
         "/api/tenant/{tenant}/builds"),
        (f"/api/tenant/example/build/{uuid}", "/api/tenant/{tenant}/build/{uuid}"),
        ("/api/tenant/nope/status", "/api/tenant/{tenant}/status"),
        ("/api/tenant/example/job/nope", "/api/tenant/{tenant}/job/{name}"),
        ("/api/tenant/example/project/org/nope", "/api/tenant/{tenant}/project/{project}"),
        ("/api/tenant/example/build/nope", "/api/tenant/{tenant}/build/{uuid}"),
        ("/api/tenant/example/builds?limit=x", "/api/tenant/{tenant}/builds"),
    ]
    for path, pattern in reads:
        response = get(base + path)
        assert response.status in (200, 400, 404), (path, response.text)
        assert response.headers["Access-Control-Allow-Origin"] == "*", path
        if response.status >= 400:
            assert set(response.json()) == {"error", "description"}, path
        check("GET", base + path, pattern, response)
    assert get(base + "/api/tenant/example/labels").json()[0]["name"] == "ubuntu-jammy"
    # An idle queue gives a stable snapshot: its ETag answers 304 (from the scheduler; Apache
    # drops the validators of status, doc/frontdoor.rst).
    first = get(scheduler.url + "/api/tenant/example/status")
    assert first.headers["Cache-Control"] == "public, max-age=1" and first.headers["Last-Modified"]
    cached = get(scheduler.url + "/api/tenant/example/status",
                 headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status == 304 and cached.body == b""
    check("GET", base + "/api/tenant/example/status", "/api/tenant/{tenant}/status", cached)
    assert len(get(base + "/api/tenant/example/builds?limit=1").json()) == 1
    tenants = get(base + "/api/tenants").json()
    assert tenants == [{"name": "example", "projects": 4, "queue": 0}]
    spec = get(base + "/api/openapi.yaml")
    assert spec.status == 200 and "openapi: 3" in spec.text
    # Admin answers validate too.
    for method, path, pattern, body in [
        ("GET", "/api/tenant/example/autohold", "/api/tenant/{tenant}/autohold", None),
        ("GET", f"/api/tenant/example/autohold/{autohold[0]['id']}",
         "/api/tenant/{tenant}/autohold/{id}", None),
        ("POST", "/api/tenant/example/promote", "/api/tenant/{tenant}/promote",
         {"pipeline": "gate", "changes": ["1"]}),
        ("POST", "/api/tenant/example/project/org/project/enqueue",
         "/api/tenant/{tenant}/project/{project}/enqueue",
         {"pipeline": "post", "ref": "refs/heads/main", "newrev": "f" * 40}),
    ]:
        for headers in (admin, {}):
            response = request(method, base + path, body=body, headers=headers)
            check(method, base + path, pattern, response, body, headers)
