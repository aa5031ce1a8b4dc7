"""Browser-side checks shared by the dashboard tests: axe-core and page width.

axe-core comes from npm (pinned in package.json, installed by ``./run-tests`` with ``npm ci``)
and is injected into the page by Playwright; the context that runs it bypasses the CSP for
that one injected script only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# Every page is "ready" when nothing in <main> still says Loading…
READY = """() => {
    const main = document.querySelector('main');
    return main && main.children.length > 0 && !main.innerText.includes('Loading…');
}"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.x A/AA rules and best practices) on the page; its violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        if not AXE.exists():
            raise AssertionError(f"{AXE} is missing: run `npm ci` (./run-tests does)")
        page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 4).map(
                (n) => n.target.join(' ') + ' :: ' + n.failureSummary)}));
    }""")


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
    return page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")
