"""Zuul 14.3's own dashboard, unmodified, against our API through Apache in Chromium.

The built dashboard of the ``zuul`` 14.3.0 wheel is served by Apache at the site's root (it
computes its API base as ``<origin>/api/``), with our scheduler's API behind ``/api/``. The
real scheduler (executor in process), a Nodepool launcher, the log streamer, ZooKeeper and
geard run; one pull request's build finishes, another's keeps running and holds a semaphore,
an autohold is requested and the tenant config has a broken job. Every page of the dashboard
for the tenant must show text that came from our API, and every API request it makes must
answer 2xx/3xx with a body that parses (JSON, or the YAML/SVG/text those routes send).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.dashboard.realstack import DashboardStack
from tests.harness.http import get, request
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import AUTH, bearer, running_build
from tests.scheduler.conftest import pr_body as pull_request
from tests.scheduler.github_api import GitHubAPI
from tests.zuuldash.stack import start

pytestmark = [pytest.mark.slow, pytest.mark.browser]
# The build page asks for the compressed job output first and falls back to the plain one
# when the log server has none (as Zuul's own log servers often do not).
GZ_PROBE = "/job-output.json.gz"
CRASH = "Something went wrong."
# Client-side navigation, as the dashboard's own links do (React Router follows popstate).
NAVIGATE = """(path) => {
    window.history.pushState({}, '', path);
    window.dispatchEvent(new PopStateEvent('popstate', {state: {}}));
}"""


@pytest.fixture
def real(zk_stack: Stack, github_api: GitHubAPI) -> DashboardStack:
    return start(zk_stack, github_api.url, AUTH)


def _api(real: DashboardStack, path: str) -> Any:
    return get(f"{real.scheduler.url}/api/{path}").json()



def _prepare(real: DashboardStack) -> dict[str, str]:
    """A finished build (org/dash #42), a running one (org/slow #50), an autohold."""
    assert real.send_event("pull_request", pull_request("org/dash", 42, "a" * 40)) == "accepted"
    assert real.send_event("pull_request", pull_request("org/slow", 50, "b" * 40)) == "accepted"
    done = wait_for(lambda: [b for b in _api(real, "tenant/example/builds?project=org/dash")
                             if b.get("result")], 90, what="org/dash's build to finish")
    running = wait_for(
        lambda: running_build(_api(real, "tenant/example/status"), 50), 60,
        what="org/slow's build to start")
    # The running build's node is the tenant's (Nodepool's tenant_name on the node). It is
    # the one that stays listed while the pages are visited: org/dash's node is deleted once
    # its build is done, and may still be listed here.
    nodes = wait_for(lambda: [n for n in _api(real, "tenant/example/nodes")
                              if n["build_uuid"] == running and n["state"] == "in-use"],
                     30, what="the running build's node")
    answer = request("POST", f"{real.scheduler.url}/api/tenant/example/project/org/dash/"
                     "autohold", {"job": "console-job", "reason": "zuul-dash-hold",
                                       "count": 1}, headers=bearer(["example"]))
    assert answer.status == 200, answer.body
    hold = _api(real, "tenant/example/autohold")[0]["id"]
    return {"build": done[0]["uuid"], "buildset": done[0]["buildset"]["uuid"],
            "running": running, "node": str(nodes[0]["id"]), "hold": str(hold)}


def _pages(ids: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(path, texts from our API the page must show)."""
    t = "/t/example"
    return [
        ("/tenants", ["example"]),
        (f"{t}/status", ["org/slow", "check"]),
        (f"{t}/status/change/50,{'b' * 40}", ["slow-job", "org/slow"]),
        (f"{t}/projects", ["org/dash", "org/slow"]),
        (f"{t}/project/github.com/org/dash", ["console-job", "check"]),
        (f"{t}/jobs", ["console-job", "slow-job", "base-job"]),
        (f"{t}/job/console-job", ["Prints a few lines.", "base-job"]),
        (f"{t}/builds", ["console-job", "org/dash"]),
        # The task summary comes from the log server's job-output.json (log_url).
        (f"{t}/build/{ids['build']}", ["console-job", "org/dash", "SUCCESS", "1 Changed"]),
        (f"{t}/buildsets", ["org/dash", "check"]),
        (f"{t}/buildset/{ids['buildset']}", ["console-job", "org/dash"]),
        (f"{t}/labels", ["local"]),
        (f"{t}/nodes", [ids["node"]]),
        (f"{t}/autoholds", ["zuul-dash-hold", "console-job"]),
        (f"{t}/autohold/{ids['hold']}", ["zuul-dash-hold"]),
        (f"{t}/semaphores", ["one-slow"]),
        (f"{t}/semaphore/one-slow", ["one-slow"]),
        (f"{t}/config-errors", ["extra keys not allowed"]),
        ("/components", ["Scheduler", "Launcher", "Streamer", "RUNNING"]),
    ]


def _parses(url: str, content_type: str, body: bytes) -> str | None:
    """None when the body parses as what it says it is, else why not."""
    if content_type.startswith("application/json"):
        try:
            json.loads(body)
        except ValueError as exc:
            return f"not JSON: {exc}"
    elif not body and not url.endswith("/badge"):
        return "empty body"
    return None


def test_zuul_dashboard_pages_render_our_api(real: DashboardStack, browser: Any,
                                              output_dir: Path) -> None:
    ids = _prepare(real)
    # The buildset's events, as Zuul records them (the trigger).
    events = _api(real, f"tenant/example/buildset/{ids['buildset']}")["events"]
    assert [e["event_type"] for e in events] == ["triggered"], events
    assert events[0]["description"] == f"Triggered by PullRequest org/dash 42,{'a' * 40}"
    shots = output_dir / "zuuldash"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    seen: list[Any] = []
    failed: list[str] = []
    other: list[str] = []
    where = ["-"]
    page.on("pageerror", lambda exc: errors.append(f"{where[0]}: {exc}"))
    page.on("console", lambda m: errors.append(f"{where[0]}: console: {m.text[:300]}")
            # (failed loads are checked by their responses above)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: seen.append(r)
            if urlsplit(r.url).path.startswith("/api") else
            other.append(f"{where[0]}: {r.url} answered {r.status}")
            if r.status >= 400 and not r.url.endswith(GZ_PROBE) else None)
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}")
            if urlsplit(r.url).path.startswith("/api") else None)
    problems: list[str] = []
    calls: set[str] = set()
    crashed = False
    try:
        for path, texts in _pages(ids):
            where[0] = path
            if page.url.startswith(real.url) and not crashed:
                # The dashboard's own router moves (no reload of its 5 MB bundle).
                page.evaluate(NAVIGATE, path)
            else:
                page.goto(real.url.rstrip("/") + path)
            for text in texts:
                try:
                    page.get_by_text(text).first.wait_for(timeout=10_000)
                except Exception:  # noqa: BLE001 - collect every page's problem
                    problems.append(f"{path}: '{text}' is not shown")
            # The dashboard's error boundary (a render crash, not a page error).
            crashed = page.get_by_text(CRASH).count() > 0
            if crashed:
                problems.append(f"{path}: the page crashed ('{CRASH}')")
            slug = path
            for value in ids.values():
                slug = slug.replace(value, "id")
            slug = slug.strip("/").replace("/", "_").replace(",", "_")[:60]
            page.screenshot(path=str(shots / f"{slug}.png"), full_page=True)
            for response in seen:
                call = f"{response.request.method} {urlsplit(response.url).path}"
                calls.add(call)
                if response.status >= 400:
                    problems.append(f"{path}: {call} answered {response.status}: "
                                    f"{response.text()[:200]}")
                    continue
                why = _parses(response.url, response.headers.get("content-type", ""),
                              response.body())
                if why:
                    problems.append(f"{path}: {call}: {why}")
            seen.clear()
    finally:
        context.close()
    (shots / "api-calls.txt").write_text("\n".join(sorted(calls)) + "\n")
    assert not (failed or errors or problems or other), "\n".join(
        [*problems, *other, *(f"JavaScript error on {e}" for e in errors),
         *(f"request failed: {f}" for f in failed)])
    # The dashboard did read our API for every page (not a cached shell).
    assert len(calls) >= 15, sorted(calls)
