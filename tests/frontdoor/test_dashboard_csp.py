"""The dashboard works under the front door's Content-Security-Policy: headless Chromium walks
its pages through a real Apache (status, live console over the websocket, builds, nodes) and
not one CSP violation is reported; an injected inline script is (the check can fail).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.realstack import start
from tests.harness.http import get
from tests.harness.stack import Stack
from tests.scheduler.conftest import pr_body
from tests.scheduler.github_api import GitHubAPI
from zuul import apache as vhost

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# Every violation the page reports, from the DOM event and from Chromium's console.
COLLECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__csp.push(`${e.effectiveDirective} ${e.blockedURI}`));
"""


@pytest.fixture
def page() -> Iterator[object]:
    """A fresh headless Debian Chromium page (module-free: closed with the test)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


def test_dashboard_works_under_its_csp(zk_stack: Stack, github_api: GitHubAPI, page) -> None:
    real = start(zk_stack, github_api.url)
    index = get(real.url)
    assert index.headers["Content-Security-Policy"] == vhost.DASHBOARD_CSP
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.add_init_script(COLLECT)

    # A Zuul-style path link (as in GitHub statuses) lands on the status page.
    page.goto(real.url + "t/example/status")
    page.wait_for_url("**#/t/example/status")
    page.goto(real.url + "#/t/example/status?refresh=1")
    page.wait_for_selector(".pipeline[data-pipeline='check'], #no-items")
    assert real.send_event("pull_request", pr_body("org/dash", 7, "c" * 40)) == "accepted"
    # A payload's URL that is not http(s) never becomes a link.
    hostile = pr_body("org/dash", 8, "e" * 40)
    hostile["pull_request"]["html_url"] = "javascript:window.__ran=1//"
    assert real.send_event("pull_request", hostile) == "accepted"
    page.locator(f".item[data-change='8,{'e' * 40}']").wait_for(timeout=30_000)
    assert page.evaluate("""() => [...document.querySelectorAll('a[href], area[href]')]
        .filter((a) => !/^https?:/.test(a.href)).map((a) => a.href)""") == []
    job = page.locator(f".item[data-change='7,{'c' * 40}'] li[data-job='console-job']")
    job.wait_for(timeout=30_000)
    job.locator("a.name").wait_for(timeout=60_000)
    job.locator("a.name").click()
    page.wait_for_url("**#/t/example/stream/*")
    # Lines arrive over the websocket through Apache (connect-src 'self').
    page.wait_for_function("""() => {
        const pre = document.querySelector('#console');
        return pre && pre.textContent.includes('dashboard-line-');
    }""", timeout=60_000)
    page.wait_for_selector("#console[data-state='ended']", timeout=90_000)
    for route, selector in (("builds", "#builds tr[data-uuid]"), ("nodes", "main table")):
        page.goto(f"{real.url}#/t/example/{route}")
        page.wait_for_selector(selector)
    page.reload()
    page.wait_for_selector("main table")
    assert page.evaluate("window.__csp") == [] and console == []

    # The check itself: an inline script is refused and reported.
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__ran = 1'; document.body.append(s); }""")
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
    assert page.evaluate("window.__csp")[0].startswith("script-src")
