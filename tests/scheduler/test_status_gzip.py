"""status.json through Apache: compressed for clients that accept gzip, and cached by Apache
for the one second the scheduler allows."""
from __future__ import annotations

import gzip
import json

from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import start_scheduler, tenant_file
from tests.scheduler.github_api import GitHubAPI


def test_status_gzip_through_apache(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    url = apache.url + "/zuul/api/tenant/example/status"

    plain = get(url)
    assert plain.status == 200 and "Content-Encoding" not in plain.headers
    assert plain.headers["Vary"] == "Accept-Encoding"
    packed = get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.status == 200
    assert packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.body)) == plain.json()
    assert packed.headers["ETag"] != plain.headers["ETag"]

    # Apache drops the validators for status (its cache could not answer them from its copy,
    # doc/frontdoor.rst) and serves the whole body.
    again = get(url, headers={"Accept-Encoding": "gzip",
                              "If-None-Match": packed.headers["ETag"]})
    assert again.status == 200
    assert json.loads(gzip.decompress(again.body)) == plain.json()
    refused = get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers and refused.json() == plain.json()


def test_apache_caches_status_for_max_age(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    url = apache.url + "/zuul/api/tenant/example/status"
    wait_for(lambda: get(url).headers.get("X-Cache", "").startswith("HIT"), 10,
             what="a status served from Apache's cache")
    # Browsers' fetch(..., {cache: 'no-cache'}) sends Cache-Control: max-age=0; Apache still
    # answers from its copy (at most max-age=1 old), or every dashboard poll would reach the
    # scheduler.
    wait_for(lambda: get(url, headers={"Cache-Control": "max-age=0"}).headers.get(
        "X-Cache", "").startswith("HIT"), 10, what="a max-age=0 request served from the cache")
    # Other API routes are never cached.
    info = apache.url + "/zuul/api/info"
    assert all("X-Cache" not in get(info).headers for _ in range(3))
    # A scheduler that is down shows as down once the cached copy expires, not as old data.
    scheduler.stop()
    wait_for(lambda: get(url).status == 503, 10, what="503 for status with the scheduler down")
