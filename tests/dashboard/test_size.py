"""What the dashboard costs a browser: its files as Apache sends them.

Decision (doc/dashboard.rst, Performance): the budget of 100 KB is the transfer size, since
that is what a user pays; the files on disk stay readable (JSDoc types for ``tsc --checkJs``,
comments, no build step) at about 140 KB. Apache compresses them (mod_deflate); this test
fetches every file of ``zuul/web/static`` through a real Apache with ``Accept-Encoding: gzip``
and checks each text file came compressed and the total is under 100 KB, and that the first
page (status) needs less than 100 KB even uncompressed.
"""
from __future__ import annotations

import re
from pathlib import Path

from tests.dashboard.conftest import STATIC_ROOT
from tests.harness.http import get
from tests.harness.ports import free_port
from tests.harness.stack import Stack

BUDGET = 100 * 1024


def test_whole_dashboard_is_sent_compressed_under_100_kb(stack: Stack) -> None:
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{free_port()}", "prefix": "/zuul",
                                "dashboard_root": str(STATIC_ROOT)})
    files = sorted(p for p in STATIC_ROOT.rglob("*") if p.is_file())
    on_disk = sum(p.stat().st_size for p in files)
    sent = 0
    for path in files:
        relative = path.relative_to(STATIC_ROOT).as_posix()
        answer = get(f"{apache.url}/zuul/{relative}", headers={"Accept-Encoding": "gzip"})
        assert answer.status == 200, relative
        if path.suffix in (".js", ".css", ".html"):
            assert answer.headers.get("Content-Encoding") == "gzip", relative
        sent += len(answer.body)
    print(f"dashboard: {len(files)} files, {on_disk / 1024:.1f} KiB on disk, "
          f"{sent / 1024:.1f} KiB sent compressed")
    assert sent < BUDGET

    # The first page: index.html, its stylesheet, app.js and the modules it preloads.
    index = (STATIC_ROOT / "index.html").read_text()
    first = ["index.html", *re.findall(r'(?:href|src)="((?:css|js)/[^"]+)"', index)]
    first_bytes = sum((STATIC_ROOT / name).stat().st_size for name in first)
    print(f"status page: {len(first)} files, {first_bytes / 1024:.1f} KiB uncompressed")
    assert first_bytes < BUDGET
    assert all(Path(STATIC_ROOT / name).is_file() for name in first)
