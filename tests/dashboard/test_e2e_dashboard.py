"""The dashboard in headless Chromium against the real stack through a real Apache.

A pull_request event goes over gearman to the real scheduler, which gets a `local` node from
the real Nodepool launcher and runs a real ansible-playbook; the browser watches the item on
the status page, its console live over the websocket, the finished build in the history, the
nodes, and the banner once the scheduler is stopped.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.realstack import start
from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import pr_body as pull_request
from tests.scheduler.github_api import GitHubAPI

SHA = "d" * 40


@pytest.fixture
def github() -> Iterator[GitHubAPI]:
    api = GitHubAPI().start()
    yield api
    api.stop()


@pytest.mark.slow
def test_status_console_builds_nodes_and_banner(zk_stack: Stack, github: GitHubAPI, page,
                                                shots: Path) -> None:
    real = start(zk_stack, github.url)
    page.goto(real.url + "?refresh=1")  # one tenant: straight to its status page
    page.wait_for_url("**#/t/example/status")
    page.wait_for_selector("#no-items")  # empty pipelines are hidden until asked for
    page.check("#show-empty")
    page.wait_for_selector(".pipeline[data-pipeline='check']")
    assert page.locator("#banner").is_hidden()

    # An event enqueues an item; its job shows progress while it runs.
    page.goto(real.url + "#/t/example/status?refresh=1")
    assert real.send_event("pull_request", pull_request("org/dash", 42, SHA)) == "accepted"
    item = page.locator(f".item[data-change='42,{SHA}']")
    item.wait_for()
    assert item.locator("a.change").inner_text() == "#42"
    assert item.locator("a.change").get_attribute("href") == "https://github.com/org/dash/pull/42"
    job = item.locator("li[data-job='console-job']")
    job.locator("[role=progressbar]").wait_for(timeout=30_000)
    assert "in queue" in item.locator(".meta").inner_text()
    page.screenshot(path=str(shots / "status.png"), full_page=True)

    # Clicking the job opens its live console, which shows lines before the build ends.
    # (Followed by its href: at ?refresh=1 the running item's card is redrawn every second.)
    page.goto(real.url + str(job.locator("a.name").get_attribute("href")))
    page.wait_for_url("**#/t/example/stream/*")
    build_uuid = page.url.rsplit("/", 1)[1]
    page.wait_for_function("""() => {
        const pre = document.querySelector('#console');
        return pre && pre.dataset.state === 'streaming'
            && pre.textContent.includes('dashboard-line-2');
    }""", timeout=60_000)
    running = get(f"{real.url}api/tenant/example/build/{build_uuid}")
    assert running.status == 404 or running.json().get("result") is None
    page.screenshot(path=str(shots / "console-live.png"), full_page=True)
    page.wait_for_selector("#console[data-state='ended']", timeout=90_000)
    page.locator("#console-result .result").wait_for(timeout=30_000)
    assert page.inner_text("#console-result .result") == "SUCCESS"
    text = page.inner_text("#console")
    assert "dashboard-line-0" in text and "dashboard-line-13" in text
    page.reload()  # deep link; now a finished build: its stored log
    page.wait_for_selector("#console[data-state='stored']")
    assert "dashboard-line-13" in page.inner_text("#console")
    page.screenshot(path=str(shots / "console-finished.png"), full_page=True)

    # The builds page lists the finished build; its page has the details.
    page.goto(real.url + "#/t/example/builds")
    row = page.locator(f"#builds tr[data-uuid='{build_uuid}']")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[0].startswith("console-job") and cells[1] == "org/dash" and cells[2] == "#42"
    assert cells[4] == "check" and cells[5] == "SUCCESS" and cells[7].endswith("s")
    page.screenshot(path=str(shots / "builds.png"), full_page=True)
    row.locator("a").first.click()
    page.wait_for_selector("#build-details")
    page.reload()
    page.wait_for_selector("#build-details")
    assert "console-job" in page.inner_text("#build-details")
    page.screenshot(path=str(shots / "build.png"), full_page=True)

    # The nodes page shows the `local` label with its counts.
    page.goto(real.url + "#/t/example/nodes")
    card = page.locator(".card[data-label='local']")
    card.wait_for()
    wait_for(lambda: int(card.locator(".counts b").nth(2).inner_text()) >= 1, 20,
             what="the local label's total count")
    assert page.locator("#nodes tbody tr[data-id]").count() >= 1
    page.screenshot(path=str(shots / "nodes.png"), full_page=True)

    # Two approved changes in the dependent gate: the second is tested on top of the first.
    page.goto(real.url + "#/t/example/status?refresh=1&empty=1")
    page.wait_for_selector(".pipeline")
    for number in (43, 44):
        review = {**pull_request("org/dash", number, f"{number:040x}", "submitted"),
                  "review": {"state": "approved"}}
        assert real.send_event("pull_request_review", review) == "accepted"
    gate = page.locator(".pipeline[data-pipeline='gate']")
    gate.locator(f".item[data-change='44,{44:040x}'] .behind").wait_for()
    assert gate.locator(".item").count() == 2
    assert gate.locator(".item .behind").inner_text() == "↳ tested on top of #43"
    assert gate.locator(".queue-name").inner_text().startswith("Queue: ")
    page.screenshot(path=str(shots / "status-gate.png"), full_page=True)

    # Stopping the scheduler: the (Apache-served) page stays and says the API is unreachable.
    real.scheduler.stop()
    page.wait_for_selector("#banner[data-kind='unreachable']", state="visible")
    assert "Zuul API unreachable" in page.inner_text("#banner")
    page.screenshot(path=str(shots / "status-unreachable.png"), full_page=True)
    page.reload()  # the dashboard itself still loads from Apache
    page.wait_for_selector("#banner[data-kind='unreachable']", state="visible")


@pytest.mark.parametrize("prefix", ["/", "/ci/zuul"])
def test_any_prefix_by_configuration(stack: Stack, github: GitHubAPI, page, prefix: str) -> None:
    """The same static files under another prefix: only the deployment YAML changes."""
    real = start(stack, github.url, prefix=prefix, nodepool=False, streamer=False)
    page.goto(real.url + "#/t/example/status?empty=1")
    page.wait_for_selector(".pipeline[data-pipeline='gate']")
    assert page.locator("#banner").is_hidden()
    page.goto(real.url + "#/t/example/builds")
    page.wait_for_selector("#builds tbody tr")
    page.reload()
    page.wait_for_selector("#builds tbody tr")
    assert page.locator("#banner").is_hidden()
    # A Zuul-style path link reaches index.html through FallbackResource and is rerouted.
    page.goto(real.url + "t/example/status?empty=1")
    page.wait_for_url(f"**{prefix.rstrip('/')}/#/t/example/status?empty=1")
    page.wait_for_selector(".pipeline[data-pipeline='check']")
