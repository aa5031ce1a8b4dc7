"""A real Apache in front of the recorded API, as a deployment serves the dashboard.

Apache serves the dashboard's files from ``dashboard_root`` (compressed, ``no-cache``, under
the generated Content-Security-Policy with the inline prefetch's hash) and proxies
``<prefix>/api/`` to a :class:`RecordedAPI` started with prefix ``/``. Used where the number
measured is what a user sees: the first-status timing (bench/dashboard.py and its test).
"""
from __future__ import annotations

from pathlib import Path

from tests.dashboard.recorded_api import RecordedAPI
from tests.harness.servers import ApacheServer


class FrontDoor:
    """The recorder (``api``, API paths only) behind Apache; ``url`` is the dashboard's URL."""

    def __init__(self, static_root: Path, workdir: Path, prefix: str = "/zuul") -> None:
        self.prefix = prefix
        self.api = RecordedAPI(static_root, prefix="/")
        self.apache = ApacheServer(
            {"zuul": {"prefix": prefix, "scheduler": f"127.0.0.1:{self.api.port}",
                      "dashboard_root": str(static_root)},
             "status_cache": {"enabled": False}},
            workdir)

    @property
    def url(self) -> str:
        return f"{self.apache.url}{self.prefix}/"

    def start(self) -> FrontDoor:
        self.api.start()
        try:
            self.apache.start()
        except Exception:
            self.api.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.apache.stop()
        finally:
            self.api.stop()
