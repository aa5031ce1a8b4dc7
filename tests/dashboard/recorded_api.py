"""A small real aiohttp server for the dashboard's unit-level browser checks.

It serves the static dashboard under a prefix plus recorded JSON in the shapes of the
scheduler, log streamer and Nodepool APIs. The end-to-end tests (``test_e2e_*``) cover the
same pages against the real services through a real Apache.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.harness.app_thread import AppThread
from tests.harness.ports import free_port

NOW_MS = int(time.time() * 1000)


def job(name: str, uuid: str, result: str | None = None, elapsed: int | None = None,
        estimated: int | None = 60_000, voting: bool = True) -> dict[str, Any]:
    """A job entry of status.json (times in ms)."""
    started = elapsed is not None or result is not None
    return {"name": name, "uuid": uuid, "result": result, "voting": voting,
            "start_time": (NOW_MS - (elapsed or 30_000)) / 1000 if started else None,
            "elapsed_time": elapsed if started else None,
            "remaining_time": (max(0, estimated - elapsed) if elapsed is not None and estimated
                               and result is None else None),
            "estimated_time": estimated, "url": f"stream/{uuid}?logfile=console.log",
            "report_url": None, "canceled": False, "retry": False}


def item(number: int, project: str, jobs: list[dict[str, Any]], ahead: str | None = None,
         live: bool = True) -> dict[str, Any]:
    """An item of status.json, as Zuul 14 shapes it: ``id`` is the item's uuid, the change
    is in ``refs``."""
    url = f"https://github.example/{project}/pull/{number}"
    ref = {"id": f"{number},{number:040x}", "url": url, "project": project,
           "ref": f"refs/pull/{number}/head", "change": number, "patchset": f"{number:040x}"}
    return {"id": f"{number:032x}", "url": url, "refs": [ref],
            "project": project, "ref": ref["ref"], "live": live, "active": True,
            "enqueue_time": NOW_MS - number * 7_000, "item_ahead": ahead, "items_behind": [],
            "failing_reasons": [], "remaining_time": 45_000, "jobs": jobs}


def status(extra_items: int = 0) -> dict[str, Any]:
    """A status.json with a check and a gate pipeline (+ ``extra_items`` more in check)."""
    check_items = [
        item(12, "org/alpha", [job("tox-py311", "u-running", elapsed=40_000),
                               job("tox-lint", "u-success", result="SUCCESS", elapsed=21_000),
                               job("docs", "u-queued")]),
        item(13, "org/beta", [job("tox-py311", "u-failed", result="FAILURE", elapsed=50_000),
                              job("slow-nv", "u-nv", elapsed=10_000, estimated=None,
                                  voting=False),
                              job("overdue", "u-overdue", elapsed=125_000, estimated=60_000)]),
    ]
    check_items[1]["failing_reasons"] = ["at least one job failed"]
    for n in range(extra_items):
        check_items.append(item(100 + n, f"org/repo{n % 17}",
                                [job(f"job-{k}", f"x-{n}-{k}", elapsed=5_000 * k)
                                 for k in range(4)]))
    gate_a = item(20, "org/alpha", [job("integration", "u-gate-a", elapsed=90_000,
                                        estimated=120_000)])
    gate_b = item(21, "org/beta", [job("integration", "u-gate-b", elapsed=80_000,
                                       estimated=120_000)], ahead=gate_a["id"])
    gate_a["items_behind"] = [gate_b["id"]]
    return {"zuul_version": "test", "trigger_event_queue": {"length": 0},
            "result_event_queue": {"length": 0}, "last_reconfigured": NOW_MS,
            "pipelines": [
                {"name": "check", "description": "Changes are tested here.",
                 "change_queues": [{"name": f"org/q{i}", "window": 0, "heads": [[it]]}
                                   for i, it in enumerate(check_items)]},
                {"name": "gate", "description": "Approved changes, tested in series.",
                 "change_queues": [{"name": "integrated", "window": 20,
                                    "heads": [[gate_a, gate_b]]}]},
                {"name": "post", "description": "", "change_queues": []},
            ]}


BUILD = {"uuid": "u-success", "job_name": "tox-lint", "result": "SUCCESS", "voting": True,
         "project": "org/alpha", "branch": "main", "pipeline": "check", "change": 12,
         "patchset": "abc", "ref": "refs/pull/12/head", "newrev": "a" * 40,
         "ref_url": "https://github.example/org/alpha/pull/12",
         "start_time": "2026-01-02T10:00:00", "end_time": "2026-01-02T10:00:21",
         "duration": 21.0, "log_url": None, "nodeset": {"nodes": [{"label": "local"}]}}


def _json(data: Any) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(data)
    return handler


async def _missing(request: web.Request) -> web.Response:
    """A route this recorded API lacks: the JSON 404 the real services' router answers."""
    return web.json_response({"error": "not_found", "description":
                              f"Not Found for {request.method} {request.path}"}, status=404)


def _text(text: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=text)
    return handler


class RecordedAPI:
    """The server; ``hits`` counts requests per path, ``status_items`` sizes the queue."""

    def __init__(self, static_root: Path, prefix: str = "/zuul/") -> None:
        self.static_root = static_root
        self.prefix = prefix
        self.port = free_port()
        self.hits: dict[str, int] = {}
        self.status_items = 0
        self.down = False
        self.console_lines = 200
        self.drop_after: int | None = None
        self.changed_item: int | None = None
        self.finished: set[str] = set()  # change numbers no longer in the status
        self.evil_url = ""  # a URL from a (hostile) webhook payload, put in items and builds
        self._tick = 0
        self._status_body: tuple[Any, bytes, bytes] | None = None
        self.stream_requests: list[dict[str, Any]] = []
        self._server = AppThread(self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def _app(self) -> web.Application:
        p = self.prefix
        app = web.Application(middlewares=[self._count])
        app.router.add_get(p + "api/info", _json(
            {"info": {"nodepool_url": "/nodepool/"}}))
        app.router.add_get(p + "api/tenants", _json(
            [{"name": "example", "projects": 2, "queue": 5}, {"name": "other"}]))
        app.router.add_get(p + "api/tenant/{t}/status", self._status)
        app.router.add_get(p + "api/tenant/{t}/builds", self._builds)
        app.router.add_get(p + "api/tenant/{t}/build/{uuid}", self._build)
        app.router.add_get(p + "api/tenant/{t}/console-stream", self._stream)
        app.router.add_get(p + "logs/{uuid}/console.log", _text("stored line 1\nstored line 2\n"))
        app.router.add_get("/nodepool/api/labels", _json(
            [{"name": "local", "ready": 1, "in-use": 2, "total": 3, "min-ready": 1}]))
        app.router.add_get("/nodepool/api/nodes", _json(
            [{"id": "0000000001", "label": ["local"], "state": "in-use", "age": 75,
              "provider": "local", "hostname": "localhost"},
             {"id": "0000000002", "label": "local", "state": "ready",
              "state_time": time.time() - 10, "provider": "local"},
             # a used node on its way out still names its build (Nodepool clears it on free)
             {"id": "0000000003", "label": "local", "state": "deleting",
              "state_time": time.time() - 5, "provider": "local",
              "user_data": {"build_uuid": "u-success"}}]))
        app.router.add_route("*", p + "api/{tail:.*}", _missing)
        app.router.add_route("*", "/nodepool/{tail:.*}", _missing)
        app.router.add_get(p + "{tail:.*}", self._static)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        if self.down and "/api/" in request.path:
            return web.json_response({"error": "unavailable", "description": "down"}, status=503)
        return await handler(request)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"] or "index.html"
        path = (self.static_root / tail).resolve()
        if not path.is_file() or self.static_root not in path.parents:
            path = self.static_root / "index.html"
        return web.FileResponse(path)

    async def _status(self, request: web.Request) -> web.Response:
        """Zuul's status.json, serialized and gzip-compressed once per change as the real
        front door does (the scheduler rebuilds it at most once a second, Apache caches it),
        so a browser measurement is not timing this recorder's JSON encoding."""
        if self.changed_item is not None:  # one item's job moves on at every answer
            self._tick += 1
        key = (self.status_items, self.evil_url, frozenset(self.finished), self.changed_item,
               self._tick if self.changed_item is not None else 0)
        if self._status_body is None or self._status_body[0] != key:
            body = json.dumps(self._status_document()).encode()
            self._status_body = (key, body, gzip.compress(body, 1))
        _, body, compressed = self._status_body
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            body = compressed
        return web.Response(body=body, headers=headers)

    def _status_document(self) -> dict[str, Any]:
        document = status(self.status_items)
        if self.evil_url:
            first = document["pipelines"][0]["change_queues"][0]["heads"][0][0]
            first["url"] = first["refs"][0]["url"] = self.evil_url
        for pipeline in document["pipelines"]:  # finished items leave the board
            pipeline["change_queues"] = [
                q for q in pipeline["change_queues"]
                if not any(i["refs"][0]["id"].split(",")[0] in self.finished
                           for h in q["heads"] for i in h)]
        if self.changed_item is not None:
            for queue in document["pipelines"][0]["change_queues"]:
                for item in queue["heads"][0]:
                    if item["refs"][0]["id"].startswith(f"{self.changed_item},"):
                        item["jobs"][0]["elapsed_time"] = 1000 * self._tick
        return document

    async def _builds(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", 50))
        skip = int(request.query.get("skip", 0))
        builds = [{**BUILD, "uuid": f"b-{n}", "job_name": f"job-{n}",
                   "result": "FAILURE" if n % 5 == 0 else "SUCCESS"} for n in range(120)]
        if self.evil_url:
            builds = [{**b, "ref_url": self.evil_url, "log_url": self.evil_url} for b in builds]
        builds = [b for b in builds if all(
            str(b.get(k)) == v for k, v in request.query.items() if k not in ("limit", "skip"))]
        return web.json_response(builds[skip:skip + limit])

    async def _build(self, request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        if uuid.startswith("u-running"):
            return web.json_response({"error": "not_found", "description": "no build"},
                                     status=404)
        extra = {"ref_url": self.evil_url, "log_url": self.evil_url,
                 "artifacts": [{"name": "evil", "url": self.evil_url}]} if self.evil_url else {}
        return web.json_response({**BUILD, "uuid": uuid, **extra})

    def console_line(self, n: int, uuid: str) -> str:
        """Line ``n`` of a recorded console; every 50th (from 7) is a red ANSI error."""
        if n % 50 == 7:
            return f"\x1b[31m{n:04d} ERROR: step failed\x1b[0m\n"
        return f"{n:04d} line of {uuid}\n"

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        """Stream the console; honours ``offset`` (bytes); with ``drop_after`` set, the first
        connection is cut abnormally after that many lines (a dropped stream)."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        message = await ws.receive_json()
        self.stream_requests.append(message)
        lines = [self.console_line(n, message["uuid"]).encode() for n in range(self.console_lines)]
        data = b"".join(lines)[int(message.get("offset", 0)):]
        first = len(self.stream_requests) == 1
        sent = 0
        for line in data.splitlines(keepends=True):
            if first and self.drop_after is not None and sent >= self.drop_after:
                assert request.transport is not None
                request.transport.abort()  # no close frame: the browser sees code 1006
                return ws
            await ws.send_str(line.decode())
            sent += 1
            await asyncio.sleep(0.005)
        await ws.close(code=1000)
        return ws

    def start(self) -> RecordedAPI:
        self._server.start(self._app())
        return self

    def stop(self) -> None:
        self._server.stop()
