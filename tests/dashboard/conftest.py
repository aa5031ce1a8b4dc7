"""Fixtures for the dashboard's browser tests: one headless Debian Chromium per test module.

Playwright drives ``/usr/bin/chromium`` (never a downloaded browser); each test gets a fresh
browser context and page, closed at teardown.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import zuul

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
STATIC_ROOT = Path(zuul.__file__).resolve().parent / "web" / "static"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium from Debian, shared by one test module.

    Module scope, not session: Playwright's sync API keeps an event loop running in the main
    thread while it is open, which would break every asyncio test collected after this area.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A page in a fresh browser context; JS errors on the page fail the test."""
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the dashboard's
    # Content-Security-Policy (no eval) forbids; tests/frontdoor/test_dashboard_csp.py drives
    # the dashboard under that policy.
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shots(output_dir: Path) -> Path:
    """Where this area's screenshots go: test-output/dashboard/."""
    path = output_dir / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path
