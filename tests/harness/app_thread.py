"""An aiohttp application served on a loopback port from its own thread and event loop.

The in-process stand-ins of the tests (GitHub, an OpenID Connect provider, a recorded Zuul
API) each run one, so synchronous tests and child processes can call them.
"""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class AppThread:
    """Serves an application on ``127.0.0.1:port`` until :meth:`stop`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self, app: web.Application) -> None:
        """Start serving ``app``; returns once the port listens."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(app), self._loop).result(10)

    async def _serve(self, app: web.Application) -> None:
        # Callers (a scheduler under test) may still be connected at stop: give them 2 s.
        self._runner = web.AppRunner(app, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        """Stop serving, end the thread and close its loop."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
