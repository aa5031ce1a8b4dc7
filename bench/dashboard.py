"""Dashboard render benchmark in headless Chromium: status page with N items (default 1,000).

Serves the real static files from a real Apache, as a deployment does (the generated vhost:
compressed, ``no-cache``, the dashboard's Content-Security-Policy), with the API proxied to
recorded answers (tests/dashboard/recorded_api.py: one check pipeline of N items with 4 jobs
each, plus a gate; tests/dashboard/front.py), and measures in Debian's Chromium:

- first status visible: navigation start -> the first status rendered (the page's
  ``zuul-first-status`` performance mark: the first screenful of cards is in the DOM), per
  fresh load, and every card drawn (``zuul-status-complete``: the rest of a long status is
  drawn in slices after it);
- refresh: the status page's own wall-clock timing of its render (``#pipelines[data-render-ms]``:
  data parsed -> DOM reconciled) and the main-thread CPU time of the whole refresh (Chromium's
  TaskDuration in thread time: parse, render, style, layout, paint), with nothing changed and
  with one item changed per refresh, plus how many item cards each refresh rebuilt (a
  MutationObserver counts added cards);
- the bytes the browser fetched for the dashboard itself (HTML, CSS, JS; no API data).

The machine is shared: the load average is printed with the results. ``DASHBOARD_ROOT=DIR``
serves another copy of the dashboard's files (e.g. an older one, for before/after runs).
Usage: python bench/dashboard.py [ITEMS=1000] [REFRESHES=10] [LOADS=5]
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS, STATIC_ROOT  # noqa: E402
from tests.dashboard.front import FrontDoor  # noqa: E402
from tests.dashboard.recorded_api import RecordedAPI  # noqa: E402
from tests.harness.process import wait_for  # noqa: E402

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
from playwright.sync_api import sync_playwright  # noqa: E402

OBSERVE = """() => {
    window.__added = 0;
    new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes)
            if (n.classList && n.classList.contains('item')) window.__added++;
    }).observe(document.getElementById('pipelines'), {childList: true, subtree: true});
}"""


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def refreshes(page, cdp, api: RecordedAPI, count: int) -> tuple[list[float], list[float],
                                                                 list[int]]:
    """Per refresh (one per second): wall ms of the render, main-thread CPU ms of the whole
    refresh (Chromium's TaskDuration in thread time: parse, render, style, layout, paint) and
    the item cards it rebuilt."""
    path = f"{api.prefix}api/tenant/example/status"
    walls, cpus, rebuilt = [], [], []
    for _ in range(count):
        page.evaluate("window.__added = 0")
        before, start = api.hits[path], task_seconds(cdp)
        wait_for(lambda before=before: api.hits[path] > before, 10, what="a refresh")
        page.wait_for_timeout(400)  # the answer is parsed, rendered and painted
        cpus.append((task_seconds(cdp) - start) * 1000)
        walls.append(float(page.get_attribute("#pipelines", "data-render-ms")))
        rebuilt.append(page.evaluate("window.__added"))
    return walls, cpus, rebuilt


def task_seconds(cdp) -> float:
    """The page's main-thread task time so far (thread CPU seconds)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    loads = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    root = Path(os.environ.get("DASHBOARD_ROOT") or STATIC_ROOT).resolve()
    workdir = tempfile.TemporaryDirectory(prefix="bench-dashboard-")
    front = FrontDoor(root, Path(workdir.name)).start()
    api = front.api
    api.status_items = items
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first, complete, transferred = [], [], 0
            warm = browser.new_page()  # serialized once, as the scheduler and Apache cache it
            warm.goto(front.url + "api/tenant/example/status")
            warm.close()
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                page = context.new_page()
                page.goto(front.url + "#/t/example/status?refresh=60")
                page.wait_for_selector("#pipelines[data-complete='true']", timeout=60_000)
                first.append(page.evaluate(
                    "performance.getEntriesByName('zuul-first-status')[0].startTime"))
                complete.append(page.evaluate(
                    "performance.getEntriesByName('zuul-status-complete')[0].startTime"))
                transferred = page.evaluate("""() => performance.getEntriesByType('resource')
                    .concat(performance.getEntriesByType('navigation'))
                    .filter((e) => !e.name.includes('/api/'))
                    .reduce((n, e) => n + (e.encodedBodySize || 0), 0)""")
                context.close()
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(front.url + "#/t/example/status?refresh=1")
            page.wait_for_selector(f".item[data-change^='{100 + items - 1},']")
            page.evaluate(OBSERVE)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
            same, same_cpu, same_rebuilt = refreshes(page, cdp, api, count)
            api.changed_item = 100 + items // 2
            one, one_cpu, one_rebuilt = refreshes(page, cdp, api, count)
            browser.close()
    finally:
        front.stop()
        workdir.cleanup()
    print(f"Dashboard through Apache, headless Chromium, status with {items + 4} items "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'measure':<40}{'median':>10}{'p90':>10}{'max':>10}")
    rows = [("first status visible (ms)", first),
            ("every card drawn (ms)", complete),
            ("render wall, nothing changed (ms)", same),
            ("render wall, one item changed (ms)", one),
            ("refresh CPU, nothing changed (ms)", same_cpu),
            ("refresh CPU, one item changed (ms)", one_cpu),
            ("cards rebuilt, nothing changed", [float(n) for n in same_rebuilt]),
            ("cards rebuilt, one item changed", [float(n) for n in one_rebuilt])]
    for name, values in rows:
        print(f"{name:<40}{statistics.median(values):>10.1f}{pct(values, .9):>10.1f}"
              f"{max(values):>10.1f}")
    print(f"dashboard files fetched: {transferred / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
