"""Read-only API routes: JSON under ``/api/`` and Nodepool's classic list paths.

Every answer comes from a snapshot of ZooKeeper rebuilt at most once a second (read in a
worker thread, never on the event loop) and is sent with ``Cache-Control: public,
max-age=1``, ``Last-Modified``, an ``ETag`` (``304`` on ``If-None-Match``) and CORS.
Classic paths (``/node-list`` ...) answer a text table unless the client sends ``Accept:
application/json`` or ``?format=json``; ``?fields=a,b`` picks columns.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from kazoo.exceptions import KazooException

from nodepool.api import tables
from nodepool.zk import NODE_STATES, NodepoolStore, label_summary
from zuul.lib.web import JSONHTTPError, SnapshotCache

MAX_AGE = 1.0
ZK_READ_TIMEOUT = 5.0


def _node_json(store: NodepoolStore, node_id: str | None = None) -> list[dict[str, Any]]:
    if node_id is not None:
        node = store.get_node(node_id)
        nodes = [node] if node is not None else []
    else:
        nodes = store.nodes()
    return [{**n.public(), "locked": store.node_locked(n.id)} for n in nodes]


def zookeeper_unavailable(exc: Exception | None) -> JSONHTTPError:
    """The 503 answered while ZooKeeper cannot be read."""
    why = type(exc).__name__ if exc is not None else "session not connected"
    return JSONHTTPError(503, "service_unavailable",
                         f"ZooKeeper is not reachable right now ({why}).")


def wants_json(request: web.Request) -> bool:
    """Content negotiation of the classic paths: ``?format=`` first, then ``Accept``."""
    fmt = request.query.get("format")
    if fmt is not None:
        if fmt not in ("json", "text"):
            raise JSONHTTPError(400, "bad_request", "format must be 'json' or 'text'")
        return fmt == "json"
    return "application/json" in request.headers.get("Accept", "")


class ReadViews:
    """Handlers for the read-only routes, sharing one snapshot cache."""

    def __init__(self, store: NodepoolStore) -> None:
        self.store = store
        self.cache = SnapshotCache(MAX_AGE)

    async def _rows(self, key: Any, build: Callable[[], Any]) -> tuple[Any, Any]:
        if not self.store.client.connected:
            raise zookeeper_unavailable(None)
        try:
            snap = await asyncio.wait_for(asyncio.to_thread(self.cache.get, key, build),
                                          ZK_READ_TIMEOUT)
        except (KazooException, TimeoutError) as exc:
            raise zookeeper_unavailable(exc) from None
        return snap, json.loads(snap.body)

    def _send(self, request: web.Request, snap: Any, body: bytes, content_type: str,
              vary: bool = False) -> web.Response:
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        headers = {"Cache-Control": f"public, max-age={int(MAX_AGE)}",
                   "Last-Modified": snap.last_modified, "ETag": etag}
        if vary:
            headers["Vary"] = "Accept"
        inm = request.headers.get("If-None-Match", "")
        if etag in [t.strip() for t in inm.split(",")]:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=content_type, charset="utf-8",
                            headers=headers)

    async def _json(self, request: web.Request, key: Any, build: Callable[[], Any],
                    select: Callable[[Any], Any] | None = None) -> web.Response:
        snap, data = await self._rows(key, build)
        body = snap.body if select is None else json.dumps(
            select(data), separators=(",", ":")).encode()
        return self._send(request, snap, body, "application/json")

    # JSON API -----------------------------------------------------------------------------

    async def labels(self, request: web.Request) -> web.Response:
        """``GET /api/labels``."""
        return await self._json(request, "labels", lambda: label_summary(self.store))

    async def nodes(self, request: web.Request) -> web.Response:
        """``GET /api/nodes[?label=&state=]``."""
        label, state = request.query.get("label"), request.query.get("state")
        if state is not None and state not in NODE_STATES:
            raise JSONHTTPError(400, "bad_request",
                                f"state must be one of {', '.join(NODE_STATES)}")
        select = None
        if label or state:
            def select(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
                return [r for r in rows if (not label or label == r["label"]
                                            or label in r["labels"])
                        and (not state or r["state"] == state)]
        return await self._json(request, "nodes", lambda: _node_json(self.store), select)

    async def node(self, request: web.Request) -> web.Response:
        """``GET /api/node/{id}``."""
        node_id = request.match_info["node_id"]
        snap, rows = await self._rows(("node", node_id), lambda: _node_json(self.store, node_id))
        if not rows:
            raise JSONHTTPError(404, "not_found", f"No node {node_id}.")
        body = json.dumps(rows[0], separators=(",", ":")).encode()
        return self._send(request, snap, body, "application/json")

    async def requests(self, request: web.Request) -> web.Response:
        """``GET /api/requests``."""
        return await self._json(request, "requests",
                                lambda: [r.public() for r in self.store.requests()])

    async def images(self, request: web.Request) -> web.Response:
        """``GET /api/images``: the local and static drivers build no images."""
        return await self._json(request, "images", list)

    # Classic paths ------------------------------------------------------------------------

    async def _classic(self, request: web.Request, key: Any, build: Callable[[], Any],
                       columns: dict[str, str]) -> web.Response:
        as_json = wants_json(request)
        try:
            picked = tables.pick_columns(columns, request.query.get("fields"))
        except ValueError as exc:
            raise JSONHTTPError(400, "bad_request", str(exc)) from None
        snap, rows = await self._rows(("classic", key), build)
        if as_json:
            body = json.dumps([{k: row.get(k) for k in picked} for row in rows],
                              separators=(",", ":")).encode()
            return self._send(request, snap, body, "application/json", vary=True)
        return self._send(request, snap, tables.render_table(rows, picked).encode(),
                          "text/plain", vary=True)

    async def label_list(self, request: web.Request) -> web.Response:
        """``GET /label-list``."""
        return await self._classic(request, "labels", lambda: tables.label_rows(self.store),
                                   tables.LABEL_COLUMNS)

    async def node_list(self, request: web.Request) -> web.Response:
        """``GET /node-list[?node_id=]``."""
        node_id = request.query.get("node_id") or None
        return await self._classic(request, ("nodes", node_id),
                                   lambda: tables.node_rows(self.store, node_id),
                                   tables.NODE_COLUMNS)

    async def request_list(self, request: web.Request) -> web.Response:
        """``GET /request-list``."""
        return await self._classic(
            request, "requests",
            lambda: [tables.request_row(r) for r in self.store.requests()],
            tables.REQUEST_COLUMNS)

    async def image_list(self, request: web.Request) -> web.Response:
        """``GET /image-list`` (always empty: no image-building drivers)."""
        return await self._classic(request, "images", list, tables.IMAGE_COLUMNS)

    async def dib_image_list(self, request: web.Request) -> web.Response:
        """``GET /dib-image-list`` (always empty: no diskimage builder)."""
        return await self._classic(request, "dib-images", list, tables.DIB_IMAGE_COLUMNS)

    def add_routes(self, app: web.Application) -> None:
        """Register every read-only route on ``app``."""
        router = app.router
        router.add_get("/api/labels", self.labels)
        router.add_get("/api/nodes", self.nodes)
        router.add_get("/api/node/{node_id}", self.node)
        router.add_get("/api/requests", self.requests)
        router.add_get("/api/images", self.images)
        router.add_get("/label-list", self.label_list)
        router.add_get("/node-list", self.node_list)
        router.add_get("/request-list", self.request_list)
        router.add_get("/image-list", self.image_list)
        router.add_get("/dib-image-list", self.dib_image_list)
