"""Unit-level browser checks of each page against recorded API answers (RecordedAPI).

These pin behaviour that is hard to produce on demand from the real stack (150 queued items,
a long log to scroll, a filter across pipelines). ``test_e2e_*`` covers the real services.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.conftest import STATIC_ROOT
from tests.dashboard.front import FrontDoor
from tests.dashboard.recorded_api import RecordedAPI
from tests.dashboard.timing import check_median
from tests.harness.process import wait_for

# A regression guard for the first status of a 1,004-item board, scaled by load
# (tests/dashboard/timing.py). Issue 16's target is 300 ms: on a quiet machine bench/dashboard.py
# measures a median of 242 ms with 13 items and 289-339 ms with 1,004, too close to hold in a
# suite that shares two CPUs between two workers, so the suite guards twice the target.
FIRST_STATUS_MS = 600


@pytest.fixture
def api() -> Iterator[RecordedAPI]:
    server = RecordedAPI(STATIC_ROOT).start()
    try:
        yield server
    finally:
        server.stop()


def test_status_page_shows_pipelines_jobs_and_dependencies(page, api: RecordedAPI,
                                                           shots: Path) -> None:
    page.goto(api.url + "#/t/example/status")
    page.wait_for_selector(".item[data-change^='12,']")
    assert page.locator(".pipeline").count() == 2  # the empty one is hidden by default
    page.check("#show-empty")
    wait_for(lambda: page.locator(".pipeline").count() == 3, 5, what="empty pipeline shown")
    assert "empty=1" in page.url
    alpha = page.locator(".item[data-change^='12,']")
    assert alpha.locator("a.change").get_attribute("href") == \
        "https://github.example/org/alpha/pull/12"
    assert "in queue" in alpha.locator(".meta").inner_text()
    running = alpha.locator("li[data-job='tox-py311']")
    assert running.locator("a.name").get_attribute("href") == "#/t/example/stream/u-running"
    assert running.get_attribute("class") == ""
    assert running.locator("[role=progressbar]").get_attribute("aria-valuenow") == "67"
    done = alpha.locator("li[data-job='tox-lint']")
    assert done.locator(".result").inner_text() == "SUCCESS"
    assert done.locator("a.name").get_attribute("href") == "#/t/example/build/u-success"
    assert alpha.locator("li[data-job='docs'] .result").inner_text() == "queued"
    assert "failing" in page.locator(".item[data-change^='13,']").get_attribute("class")
    behind = page.locator(".pipeline[data-pipeline='gate'] .item").nth(1)
    assert "tested on top of #20" in behind.locator(".behind").inner_text()
    assert page.locator("#banner").is_hidden()
    page.screenshot(path=str(shots / "recorded-status.png"), full_page=True)


def test_status_filter_and_many_items(page, api: RecordedAPI, shots: Path) -> None:
    api.status_items = 150
    page.goto(api.url + "#/t/example/status")
    page.wait_for_selector(".item[data-change^='249,']")
    assert page.locator(".item").count() == 154
    assert page.locator("#status-summary").inner_text() == "154 items in queue"
    page.fill("#status-filter", "org/repo3")
    wait_for(lambda: "match" in page.locator("#status-summary").inner_text(), 5,
             what="filter applied")
    # org/repo3 and org/repo3x: items 103, 120, ... (n % 17 == 3) and 13..16 of them.
    shown = page.locator(".item").count()
    assert 0 < shown < 20
    assert page.locator("#status-summary").inner_text() == f"{shown} of 154 items match"
    assert "q=org%2Frepo3" in page.url
    page.reload()
    page.wait_for_selector(".item")
    assert page.input_value("#status-filter") == "org/repo3"
    page.fill("#status-filter", "org/alpha")
    wait_for(lambda: page.locator(".item").count() == 2, 5, what="filter by project")
    page.fill("#status-filter", "#13")
    wait_for(lambda: page.locator(".item").count() == 1, 5, what="filter by change number")
    print("status render ms with 154 items:", page.locator("#pipelines").get_attribute(
        "data-render-ms"))


def test_status_pauses_when_hidden_and_shows_unreachable_banner(page, api: RecordedAPI) -> None:
    page.goto(api.url + "#/t/example/status?refresh=1")
    page.wait_for_selector(".item")
    path = "/zuul/api/tenant/example/status"
    wait_for(lambda: api.hits.get(path, 0) >= 2, 5, what="refresh every second")
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    wait_for(lambda: page.locator("#updated").inner_text() == "paused while hidden", 5,
             what="paused note")
    paused_at = api.hits[path]
    page.wait_for_timeout(2500)  # two refresh intervals must pass without a request
    assert api.hits[path] <= paused_at + 1  # at most one request already in flight
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    wait_for(lambda: api.hits[path] > paused_at + 1, 5, what="refresh resumed")

    api.down = True
    page.wait_for_selector("#banner[data-kind='unreachable']", state="visible")
    assert "Zuul API unreachable" in page.inner_text("#banner")
    assert page.locator(".item").count() > 0  # the last data stays on screen
    api.down = False
    page.wait_for_selector("#banner", state="hidden")


def test_console_follows_until_scrolled_up(page, api: RecordedAPI, shots: Path) -> None:
    api.console_lines = 400
    page.goto(api.url + "#/t/example/stream/u-running")
    page.wait_for_selector("#console")  # the console page's module loads on first visit
    page.wait_for_function("document.querySelector('#console').textContent.includes('0150 ')")
    at_bottom = "innerHeight + scrollY >= document.documentElement.scrollHeight - 60"
    assert page.evaluate(at_bottom)
    page.mouse.wheel(0, -2000)
    wait_for(lambda: page.locator("button.follow").is_visible(), 5, what="follow button")
    page.wait_for_selector("#console[data-state='ended']")
    assert "0399 line of u-running" in page.inner_text("#console")
    assert not page.evaluate(at_bottom)  # it did not yank the reader back down
    assert "Build ended" in page.inner_text("#console-state")
    page.click("button.follow")
    wait_for(lambda: page.evaluate(at_bottom), 5, what="scrolled to the end")


def test_finished_build_console_shows_stored_log(page, api: RecordedAPI) -> None:
    page.goto(api.url + "#/t/example/stream/u-success")
    page.wait_for_selector("#console[data-state='stored']")
    assert page.inner_text("#console").startswith("stored line 1")
    assert page.inner_text("#console-result").startswith("SUCCESS")


def test_builds_filters_paging_and_build_page(page, api: RecordedAPI, shots: Path) -> None:
    page.goto(api.url + "#/t/example/builds")
    page.wait_for_selector("#builds tbody tr[data-uuid='b-0']")
    # 50 from the history, plus the running builds of the status on the first page.
    assert page.locator("#builds tbody tr").count() == 50 + 5
    running = page.locator("#builds tbody tr[data-uuid='u-running']")
    assert "RUNNING" in running.inner_text()
    assert running.locator("a").first.get_attribute("href") == "#/t/example/stream/u-running"
    page.click("text=Older →")
    page.wait_for_selector("#builds tbody tr[data-uuid='b-50']")
    assert "skip=50" in page.url
    page.select_option("#filter-result", "FAILURE")
    page.click("button[type=submit]")
    page.wait_for_selector("#builds tbody tr[data-uuid='b-5']")
    assert page.locator("#builds tbody tr").count() == 24
    assert "result=FAILURE" in page.url
    page.screenshot(path=str(shots / "recorded-builds.png"), full_page=True)
    page.click("#builds tbody tr[data-uuid='b-5'] a")
    page.wait_for_selector("#build-details")
    details = page.inner_text("#build-details")
    assert "tox-lint" in details and "#12" in details and "21s" in details
    assert "b-5" in page.inner_text("h1")
    page.reload()  # deep link survives a reload
    page.wait_for_selector("#build-details")


def test_nodes_page(page, api: RecordedAPI, shots: Path) -> None:
    page.goto(api.url + "#/t/example/nodes")
    card = page.locator(".card[data-label='local']")
    card.wait_for()
    assert card.locator(".counts").inner_text().split() == ["1", "ready", "2", "in", "use", "3",
                                                            "total"]
    assert page.locator("#nodes tbody tr").count() == 3
    assert page.inner_text("#nodes tbody tr[data-id='0000000001']").split("\t")[3] == "1m 15s"


def test_node_page_links_its_build_until_the_node_is_gone(page, api: RecordedAPI) -> None:
    """A node being deleted after its build still links that build; a ready node names none;
    a node Nodepool no longer knows says so and points at the build history (builds record
    node labels, not node ids: the build of a gone node cannot be named)."""
    page.goto(api.url + "#/t/example/node/0000000003")
    page.wait_for_selector("#node-build")
    assert page.get_attribute("#node-build", "href") == "#/t/example/build/u-success"
    page.goto(api.url + "#/t/example/node/0000000002")
    page.wait_for_selector("#node-details")
    assert page.locator("#node-build").count() == 0
    page.goto(api.url + "#/t/example/node/0000000999")
    page.wait_for_selector("#node-gone")
    assert "does not exist" in page.inner_text("main")
    assert page.get_attribute("#node-gone a", "href") == "#/t/example/builds"


def test_tenant_list_and_unknown_route(page, api: RecordedAPI) -> None:
    page.goto(api.url)
    page.wait_for_selector("#tenants a")
    assert page.locator("#tenants h2").all_inner_texts() == ["example", "other"]
    page.goto(api.url + "#/nowhere")
    page.wait_for_selector("text=Page not found")


def test_console_reconnects_where_it_stopped_search_errors_colours_permalink(
        page, api: RecordedAPI, shots: Path) -> None:
    """A stream cut without a close frame is resumed from the byte offset it reached: every
    line arrives exactly once. Then search (text, regex, case), first error, ANSI colours and
    a line permalink."""
    api.console_lines, api.drop_after = 300, 120
    page.goto(api.url + "#/t/example/stream/u-running")
    page.wait_for_selector("#console[data-state='ended']", timeout=30_000)
    assert len(api.stream_requests) == 2
    first, second = api.stream_requests
    assert "offset" not in first
    assert second["offset"] == sum(len(api.console_line(n, "u-running").encode())
                                   for n in range(120))
    lines = page.locator("#console .ln[data-n]")
    assert lines.count() == 300
    texts = lines.all_inner_texts()
    assert texts[0] == "0000 line of u-running" and texts[299] == "0299 line of u-running"
    assert len(set(texts)) == 300  # nothing repeated after the reconnect
    assert "resumed" not in page.inner_text("#console-state")  # it ended cleanly after

    # ANSI colours become classes; the escape codes are not shown.
    red = page.locator("#L8 .t .c31")
    assert red.inner_text() == "0007 ERROR: step failed"
    assert "\x1b" not in page.inner_text("#console")

    page.click("#first-error")
    assert page.get_attribute("#L8", "class") == "ln current"
    assert page.inner_text("#console-hits") == "first error on line 8"

    page.fill("#console-search", "0150 line")
    wait_for(lambda: page.inner_text("#console-hits") == "1 matching line", 5, what="search")
    page.fill("#console-search", "ERROR")
    page.check("#console-case")
    page.fill("#console-search", "error")
    wait_for(lambda: page.inner_text("#console-hits") == "0 matching lines", 5, what="case")
    page.uncheck("#console-case")
    wait_for(lambda: page.inner_text("#console-hits") == "6 matching lines", 5, what="no case")
    page.check("#console-regex")
    page.fill("#console-search", r"^02[0-4]5 ")
    wait_for(lambda: page.inner_text("#console-hits") == "5 matching lines", 5, what="regex")
    page.click("#console-tools button[type=submit]")
    assert page.inner_text("#console-hits") == "1 of 5 matching lines"
    assert page.get_attribute("#L206", "class") == "ln hit current"
    page.fill("#console-search", "[")
    wait_for(lambda: page.inner_text("#console-hits") == "invalid regular expression", 5,
             what="bad regex reported")
    assert page.get_attribute("#console-search", "aria-invalid") == "true"
    page.screenshot(path=str(shots / "recorded-console-search.png"))

    # A line number is a permalink: the linked line is shown and marked after a reload.
    href = page.get_attribute("#L250 a.n", "href")
    assert href == "#/t/example/stream/u-running?line=250"
    page.goto(api.url + href)
    page.wait_for_selector("#L250.current", timeout=30_000)


def test_status_refresh_reuses_unchanged_items_and_keeps_focus(page, api: RecordedAPI) -> None:
    """With 1,000 items, a refresh in which one item changed replaces that item only, keeps
    focus on a link inside an unchanged item, and renders in well under 50 ms."""
    api.status_items = 1000
    page.goto(api.url + "#/t/example/status?refresh=1")
    page.wait_for_selector(".item[data-change^='1099,']")
    assert page.locator(".item").count() == 1004
    page.evaluate("""() => {
        window.__added = 0;
        new MutationObserver((records) => {
            for (const r of records) for (const n of r.addedNodes)
                if (n.classList && n.classList.contains('item')) window.__added++;
        }).observe(document.getElementById('pipelines'), {childList: true, subtree: true});
        document.querySelector(".item[data-change^='500,'] a.change").focus();
    }""")
    path = "/zuul/api/tenant/example/status"
    before = api.hits[path]
    wait_for(lambda: api.hits[path] >= before + 2, 10, what="two refreshes")
    page.wait_for_timeout(100)  # let the last answer render
    assert page.evaluate("window.__added") == 0  # nothing changed: nothing rebuilt
    api.changed_item = 700  # from now on, item 700's job moves on at every answer
    before = api.hits[path]
    wait_for(lambda: api.hits[path] >= before + 1, 10, what="a refresh")
    page.wait_for_timeout(300)
    page.evaluate("window.__added = 0")
    before = api.hits[path]
    wait_for(lambda: page.evaluate("window.__added") >= 1, 10, what="the changed item redrawn")
    # only the changed item was rebuilt: one card per refresh since the reset (plus one for
    # an answer in flight at the reset); a full rebuild would add 1,004
    assert page.evaluate("window.__added") <= api.hits[path] - before + 1
    focused = page.evaluate("document.activeElement.closest('.item').dataset.change")
    assert focused.startswith("500,")
    # The render's own wall-clock time (data parsed -> DOM reconciled), the median of eight
    # refreshes against the target stretched by the machine's load (tests/dashboard/timing.py).
    # Chromium's main-thread task time is printed beside it.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})

    def task_seconds() -> float:
        metrics = cdp.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    times, start = [], task_seconds()
    for _ in range(8):
        before = api.hits[path]
        wait_for(lambda before=before: api.hits[path] > before, 10, what="a refresh")
        page.wait_for_timeout(150)
        times.append(float(page.get_attribute("#pipelines", "data-render-ms")))
    task_ms = (task_seconds() - start) / 8 * 1000
    print(f"status refresh, 1,004 items, one changed: render {sorted(times)} ms wall; "
          f"{task_ms:.1f} ms main-thread task time per refresh")
    check_median("status refresh, 1,004 items, one changed", times, 50)


@pytest.fixture
def front(tmp_path: Path) -> Iterator[FrontDoor]:
    """The recorded API behind a real Apache serving the dashboard's files (its CSP too)."""
    door = FrontDoor(STATIC_ROOT, tmp_path / "apache").start()
    try:
        yield door
    finally:
        door.stop()


# Every CSP violation the page reports (the inline prefetch must be allowed by its hash).
COLLECT_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__csp.push(`${e.effectiveDirective} ${e.blockedURI}`));"""


def test_first_status_visible_with_1000_items(browser, front: FrontDoor) -> None:
    """From navigation to the first status on screen (the page's ``zuul-first-status`` mark,
    set when the first cards are in the DOM), loaded as a deployment serves it: files from
    Apache under the dashboard's CSP. index.html's inline script fetches the status while the
    modules load: allowed by its hash (no violation) and used (one status request per load).
    The first screenful is drawn at once; the rest of a 1,004-item status fills in slice by
    slice afterwards."""
    api = front.api
    api.status_items = 1000
    path = "/api/tenant/example/status"
    firsts = []
    for load in range(5):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        try:
            page = context.new_page()
            page.add_init_script(COLLECT_CSP)
            before = api.hits.get(path, 0)
            page.goto(front.url + "#/t/example/status?refresh=60")
            page.wait_for_selector(".item")
            firsts.append(page.evaluate(
                "performance.getEntriesByName('zuul-first-status')[0].startTime"))
            assert api.hits[path] - before == 1, "the prefetched status was not used"
            if load == 0:  # the rest fills in: every card, in order
                page.wait_for_selector("#pipelines[data-complete='true']", timeout=30_000)
                ids = page.eval_on_selector_all(
                    ".pipeline[data-pipeline='check'] .item",
                    "els => els.map(e => e.dataset.change)")
                assert len(ids) == 1002
                assert [int(i.split(",")[0]) for i in ids] == [12, 13, *range(100, 1100)]
            assert page.evaluate("window.__csp") == []
        finally:
            context.close()
    check_median("first status visible, 1,004 items", firsts, FIRST_STATUS_MS)


def test_only_http_urls_become_links(page, api: RecordedAPI) -> None:
    """A javascript: URL from a webhook payload (change URL, ref_url, log_url, artifact)
    stays text on the status, builds and build pages."""
    api.evil_url = "javascript:alert(document.domain)"
    no_js_links = "document.querySelectorAll('a[href^=\"javascript\" i]').length"
    page.goto(api.url + "#/t/example/status")
    page.wait_for_selector(".item[data-change^='12,']")
    assert page.locator(".item[data-change^='12,'] .change").evaluate("e => e.tagName") == "SPAN"
    assert page.evaluate(no_js_links) == 0
    page.goto(api.url + "#/t/example/builds")
    page.wait_for_selector("#builds tbody tr[data-uuid='b-0']")
    assert page.evaluate(no_js_links) == 0
    page.goto(api.url + "#/t/example/build/b-1")
    page.wait_for_selector("#build-details")
    page.wait_for_selector("#artifacts")
    assert page.evaluate(no_js_links) == 0
    assert "evil" in page.inner_text("#artifacts")


def test_watched_change_notifies_when_it_finishes(browser, api: RecordedAPI) -> None:
    """Opt-in: Watch asks for permission; when the item leaves the board the user gets a
    notification (Notification API) and the status line, and it joins "Recently finished"."""
    context = browser.new_context()
    context.grant_permissions(["notifications"])
    context.add_init_script("""
        window.__notes = [];
        window.Notification = class {
            static permission = 'granted';
            static requestPermission() { return Promise.resolve('granted'); }
            constructor(title, options) { window.__notes.push([title, options.body]); }
        };""")
    page = context.new_page()
    try:
        page.goto(api.url + "#/t/example/status?refresh=1")
        watch = page.locator(".item[data-change^='13,'] button.watch")
        watch.click()
        wait_for(lambda: watch.get_attribute("aria-pressed") == "true", 5, what="watching")
        api.finished.add("13")
        page.wait_for_selector("#notice:has-text('org/beta #13 finished in check: FAILURE')")
        assert page.evaluate("window.__notes") == [
            ["Zuul", "org/beta #13 finished in check: FAILURE"]]
        assert "FAILURE #13 org/beta in check" in page.inner_text("#recent")
    finally:
        context.close()


def test_times_zone_choice_relative_and_overdue(browser, api: RecordedAPI) -> None:
    """Times are in one labelled zone (UTC by default, local on request, remembered) with a
    relative time; a job past its estimate is "overdue", never "0s left"."""
    context = browser.new_context(timezone_id="Europe/Berlin")
    page = context.new_page()
    try:
        page.goto(api.url + "#/t/example/status")
        overdue = page.locator("li[data-job='overdue']")
        # The card can be in the DOM a task before its times are written (the first paint
        # draws the cards, the clock fills them in): wait for the time, then check it.
        overdue.locator(".time:not(:empty)").wait_for()
        assert overdue.locator(".time").inner_text() == "overdue 1m 05s"
        assert "overdue" in overdue.locator(".progress").get_attribute("class")
        assert not re.search(r"(^|\s)0s left", page.inner_text("#pipelines"))
        page.goto(api.url + "#/t/example/build/b-1")
        started = page.locator("#build-details time").first
        started.wait_for()
        assert re.fullmatch(r"2026-01-02 10:00:00 UTC \(\d+d \d+h ago\)", started.inner_text())
        assert page.inner_text("#tz") == "Times: UTC"
        page.click("#tz")
        page.wait_for_selector("#tz:has-text('Times: local')")
        wait_for(lambda: re.match(r"2026-01-02 11:00:00 (GMT\+1|CET) ",
                                  page.locator("#build-details time").first.inner_text()), 5,
                 what="local time labelled with its zone")
        page.reload()
        page.wait_for_selector("#build-details time")
        assert page.inner_text("#tz") == "Times: local"  # remembered
    finally:
        context.close()
