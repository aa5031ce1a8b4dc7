"""Zuul 14.3's own dashboard (from the ``zuul`` wheel in ``.venv-ext/zuul``) in Chromium.

The browser fixtures are the dashboard area's (headless Debian Chromium, one per module).
"""
from __future__ import annotations

from tests.dashboard.conftest import browser  # noqa: F401 - a fixture, used by name
