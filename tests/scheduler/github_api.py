"""A local stand-in of GitHub's REST API (aiohttp on loopback, in a thread) recording calls."""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from tests.harness.ports import free_port


class GitHubAPI:
    """Answers statuses/comments POSTs (recorded) and pull request GETs (from ``pulls``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[dict[str, Any]] = []
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append({"method": request.method, "path": request.path, "body": body,
                           "auth": request.headers.get("Authorization")})
        return web.json_response({"id": len(self.calls)}, status=201)

    async def _pull(self, request: web.Request) -> web.Response:
        key = (f"{request.match_info['owner']}/{request.match_info['repo']}",
               int(request.match_info["number"]))
        if key not in self.pulls:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response(self.pulls[key])

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/repos/{owner}/{repo}/statuses/{sha}", self._record)
        app.router.add_post("/repos/{owner}/{repo}/issues/{number}/comments", self._record)
        app.router.add_get("/repos/{owner}/{repo}/pulls/{number}", self._pull)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> GitHubAPI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def statuses(self, sha: str) -> list[tuple[str, str]]:
        """(context, state) of every status posted for ``sha``, in order."""
        return [(c["body"]["context"], c["body"]["state"]) for c in list(self.calls)
                if c["path"].endswith(f"/statuses/{sha}")]

    def comments(self, project: str, number: int) -> list[str]:
        return [c["body"]["body"] for c in list(self.calls)
                if c["path"] == f"/repos/{project}/issues/{number}/comments"]

    def dump(self) -> str:
        return json.dumps(self.calls, indent=1)
