"""Every dashboard page against the real stack through Apache, at 1440 px and 390 px, with axe.

The real scheduler (with auth), executor, log streamer, Nodepool launcher and Apache: one
pull request's build finishes, another's keeps running, and the browser visits every page in
one loop per viewport (desktop light, phone dark), checking axe-core finds no violation and no
page is wider than the screen. A second test drives the admin actions and focus retention.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.axe import PHONE, READY, WIDE, axe_violations, overflow
from tests.dashboard.realstack import DashboardStack, start
from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import AUTH, running_build, token
from tests.scheduler.conftest import pr_body as pull_request
from tests.scheduler.github_api import GitHubAPI

UNAVAILABLE = "[data-unavailable]"


@pytest.fixture
def real(zk_stack: Stack, github_api: GitHubAPI) -> DashboardStack:
    return start(zk_stack, github_api.url, auth=AUTH)


def _api(real: DashboardStack, path: str) -> Any:
    return get(f"{real.scheduler.url}/api/{path}").json()  # direct: no cache in between



def _prepare(real: DashboardStack) -> tuple[str, str, str]:
    """A finished build of org/dash #42 and a running one of org/slow #50; their uuids and
    a node id."""
    assert real.send_event("pull_request", pull_request("org/dash", 42, "a" * 40)) == "accepted"
    done = wait_for(lambda: [b for b in _api(real, "tenant/example/builds?project=org/dash")
                             if b.get("result")], 90, what="org/dash's build to finish")
    assert real.send_event("pull_request", pull_request("org/slow", 50, "b" * 40)) == "accepted"
    running = wait_for(
        lambda: running_build(_api(real, "tenant/example/status"), 50), 60,
        what="org/slow's build to start")
    nodes = get(f"{real.apache.url}/nodepool/api/nodes").json()
    return done[0]["uuid"], running, str(nodes[0]["id"])


def _pages(finished: str, running: str, node: str) -> list[tuple[str, str]]:
    """(hash route, selector that shows the page has its data) for every page."""
    return [
        ("#/tenants", "#tenants li"),
        ("#/t/example/status", ".item[data-change^='50,'] [role=progressbar]"),
        ("#/t/example/change/50", "#change-live .item"),
        ("#/t/example/projects", "#projects tr[data-name='org/dash']"),
        ("#/t/example/project/org/dash", "[data-pipeline='check'] .graph .node"),
        ("#/t/example/project/org/graph", ".graph .node[data-job='graph-deploy']"),
        ("#/t/example/jobs", "#jobs tr[data-name='console-job']"),
        ("#/t/example/job/console-job", "#variants, " + UNAVAILABLE),
        ("#/t/example/labels", ".card[data-label='local']"),
        ("#/t/example/nodes", "#nodes tbody tr[data-id]"),
        (f"#/t/example/node/{node}", "#node-details"),
        ("#/t/example/autoholds", "#autoholds, [data-auth], " + UNAVAILABLE),
        ("#/t/example/builds", f"#builds tr[data-uuid='{finished}']"),
        (f"#/t/example/build/{finished}", "#build-details"),
        (f"#/t/example/build/{running}", "#build-running"),
        ("#/t/example/buildsets", "#buildsets, " + UNAVAILABLE),
        ("#/t/example/semaphores", "#semaphores, " + UNAVAILABLE),
        ("#/t/example/components", "#components, " + UNAVAILABLE),
        ("#/t/example/config-errors", "#config-error-list, #config-errors-none, " + UNAVAILABLE),
        (f"#/t/example/stream/{finished}", "#console[data-state='stored']"),
        (f"#/t/example/stream/{running}", "#console[data-state='streaming'] .ln[data-n]"),
    ]


def _check_job_graph(page: Any, real: DashboardStack) -> None:
    """org/graph's check jobs (tenant.yaml: build -> unit, lint -> deploy) in columns by
    depth, each edge named on both ends and linked to the job."""
    page.goto(real.url + "#/t/example/project/org/graph")
    graph = page.locator("[data-pipeline='check'] .graph")
    graph.locator(".node[data-job='graph-deploy']").wait_for()
    levels = graph.locator(".level")
    columns = [sorted(levels.nth(i).locator(".node").evaluate_all(
        "els => els.map(e => e.dataset.job)")) for i in range(levels.count())]
    assert columns == [["graph-build"], ["graph-lint", "graph-unit"], ["graph-deploy"]]
    deploy = graph.locator(".node[data-job='graph-deploy']")
    assert deploy.get_attribute("data-needs") == "graph-unit graph-lint"
    assert deploy.locator(".needs a").evaluate_all("els => els.map(e => e.textContent)") == [
        "graph-unit", "graph-lint"]
    build = graph.locator(".node[data-job='graph-build']")
    assert build.locator(".then a").evaluate_all("els => els.map(e => e.getAttribute('href'))") \
        == ["#/t/example/job/graph-unit", "#/t/example/job/graph-lint"]


def _check_node_build_links(page: Any, real: DashboardStack, running: str) -> None:
    """The running build's page links the node it runs on, whose page links back."""
    page.goto(real.url + f"#/t/example/build/{running}")
    link = page.locator("#build-nodes a")
    link.first.wait_for()
    node_href = link.first.get_attribute("href")
    assert node_href and node_href.startswith("#/t/example/node/")
    page.goto(real.url + node_href)
    page.wait_for_selector("#node-build")
    assert page.get_attribute("#node-build", "href") == f"#/t/example/build/{running}"


@pytest.mark.slow
def test_every_page_at_desktop_and_phone_width_has_no_axe_violation(
        real: DashboardStack, browser: Any, shots: Path) -> None:
    finished, running, node = _prepare(real)
    problems: list[str] = []
    for name, viewport, scheme in (("wide", WIDE, "light"), ("phone", PHONE, "dark")):
        context = browser.new_context(viewport=viewport, color_scheme=scheme, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        try:
            for route, ready in _pages(finished, running, node):
                page.goto(real.url + route)
                page.wait_for_selector(ready)
                page.wait_for_function(READY)
                for v in axe_violations(page):
                    problems.append(f"{name} {route}: {v['id']} ({v['impact']}): {v['nodes']}")
                wider = overflow(page)
                if wider:
                    problems.append(f"{name} {route}: {wider}px wider than the screen")
                if page.locator("#banner").is_visible():
                    problems.append(f"{name} {route}: banner {page.inner_text('#banner')}")
                slug = route.strip("#/").replace("/", "_")[:60]
                page.screenshot(path=str(shots / f"{name}-{slug}.png"), full_page=True)
            # The dashboard's own files (HTML, CSS, JS), as fetched through Apache.
            size = page.evaluate("""() => performance.getEntriesByType('navigation')
                .concat(performance.getEntriesByType('resource'))
                .filter((e) => !/\\/(api|logs|nodepool)\\//.test(new URL(e.name).pathname))
                .reduce((n, e) => n + e.encodedBodySize, 0)""")
            assert 0 < size < 100 * 1024, f"the dashboard's files took {size} bytes"
            if name == "wide":
                _check_job_graph(page, real)
                _check_node_build_links(page, real, running)
            # The console's heading names the job, project and change while it runs.
            page.goto(real.url + f"#/t/example/stream/{running}")
            page.wait_for_selector("#console[data-state='streaming'] .ln[data-n]")
            heading = page.inner_text("#console-title")
            assert "slow-job" in heading and "org/slow" in heading and "#50" in heading
            page.wait_for_function(
                "document.querySelector('#console-elapsed').textContent.startsWith('running')")
            if name == "phone":
                page.click("#menu")
                page.get_by_role("link", name="Builds", exact=True).click()
                page.wait_for_url("**#/t/example/builds")
        finally:
            context.close()
        assert not errors, f"JavaScript errors ({name}): {errors}"
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_admin_actions_focus_and_live_regions(real: DashboardStack, page: Any,
                                              shots: Path) -> None:
    _, running, _ = _prepare(real)
    page.goto(real.url + "#/t/example/status?refresh=1")
    item = page.locator(".item[data-change^='50,']")
    item.locator("[role=progressbar]").wait_for()
    assert item.locator(".actions").count() == 0  # not signed in: no admin buttons
    assert page.get_attribute("#updated", "aria-live") is None  # no chatter every refresh

    # Focus on the running job's link survives refreshes that change its item.
    link = item.locator(f"a[href$='/stream/{running}']")
    link.focus()
    fetched = "performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/status'))"
    done = page.evaluate(f"{fetched}.length")
    page.wait_for_function(f"{fetched}.length >= {done + 3}", timeout=45_000)
    item_id = item.get_attribute("data-id")  # the item's uuid, as in Zuul's status.json
    assert page.evaluate("document.activeElement.dataset.fk") == f"{item_id}:slow-job"

    # A token for another tenant grants nothing here; the tenant's admin sees the buttons.
    for tenants, visible in ((["other"], False), (["example"], True)):
        if visible:
            page.click("#signin")  # signs out first
            page.click("#confirm button[value=yes]")
        page.click("#signin")
        page.fill("#token-input", token(tenants))
        page.click("#confirm button[value=yes]")
        page.wait_for_selector("#notice:has-text('Token stored')")
        if visible:
            item.locator("button[data-action='Dequeue']").wait_for()
        else:
            wait_for(lambda: page.locator(".item[data-change^='50,']").count() == 1, 10,
                     what="status after sign-in")
            assert item.locator("button[data-action='Dequeue']").count() == 0
    page.screenshot(path=str(shots / "admin-status.png"), full_page=True)

    # Every action asks first: cancelling does nothing.
    said = page.inner_text("#notice")
    item.locator("button[data-action='Dequeue']").click()
    assert "Dequeue change 50 of org/slow from check?" in page.inner_text("#confirm")
    page.click("#confirm button[value=no]")
    assert page.inner_text("#notice") == said  # nothing was done
    item.locator("button[data-action='Dequeue']").click()
    page.click("#confirm button[value=yes]")
    page.wait_for_selector("#notice:has-text('Done: Dequeue change 50')")
    item.wait_for(state="detached", timeout=30_000)

    # Enqueue from the project page; the item comes back.
    page.goto(real.url + "#/t/example/project/org/slow")
    page.fill("#enqueue-pipeline", "check")
    page.fill("#enqueue-change", "50")
    page.click("#enqueue button[type=submit]")
    page.click("#confirm button[value=yes]")
    page.wait_for_selector("#notice:has-text('Done: Enqueue change 50')")
    page.goto(real.url + "#/t/example/status?refresh=1")
    page.locator(".item[data-change^='50,']").wait_for()

    # Autohold: create, list, delete.
    page.goto(real.url + "#/t/example/autoholds")
    page.wait_for_selector("#autoholds")
    page.fill("#autohold-project", "org/slow")
    page.fill("#autohold-job", "slow-job")
    page.fill("#autohold-reason", "debugging from the dashboard")
    page.click("#autohold button[type=submit]")
    page.click("#confirm button[value=yes]")
    page.wait_for_selector("#notice:has-text('Done: Hold the nodes')")
    row = page.locator("#autoholds tbody tr[data-id]")
    row.wait_for()
    assert "debugging from the dashboard" in row.inner_text()
    page.screenshot(path=str(shots / "admin-autoholds.png"), full_page=True)
    row.locator("button[data-action=delete]").click()
    page.click("#confirm button[value=yes]")
    page.wait_for_selector("#notice:has-text('Done: Delete autohold')")
    page.wait_for_selector("#autoholds tbody tr[data-id]", state="detached")


@pytest.mark.slow
def test_console_resumes_after_the_streamer_is_killed(real: DashboardStack, page: Any) -> None:
    """kill -9 of the log streamer mid-build: the console reconnects to the restarted
    streamer with the byte offset it had, and every line of the build arrives exactly once."""
    assert real.send_event("pull_request", pull_request("org/slow", 51, "c" * 40)) == "accepted"
    running = wait_for(
        lambda: running_build(_api(real, "tenant/example/status"), 51), 60,
        what="org/slow's build to start")
    page.goto(real.url + f"#/t/example/stream/{running}")
    page.wait_for_function("document.querySelectorAll('#console .ln[data-n]').length > 8",
                           timeout=90_000)
    assert real.streamer is not None
    real.streamer.kill()
    page.wait_for_selector("#console[data-state='reconnecting']")
    real.streamer.start()
    page.wait_for_selector("#console[data-state='streaming']", timeout=30_000)
    assert "resumed" in page.inner_text("#console-state")
    last = int(re.findall(r"slow-line-(\d+)", page.inner_text("#console"))[-1])
    page.wait_for_function(
        f"document.querySelector('#console').textContent.includes('slow-line-{last + 4}')",
        timeout=30_000)
    numbers = [int(n) for n in re.findall(r"\| slow-line-(\d+)$", page.inner_text("#console"),
                                          re.M)]
    assert numbers == list(range(numbers[-1] + 1)), "a line was lost or repeated"
