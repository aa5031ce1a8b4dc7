"""Admin routes: ``POST /api/node/{id}/hold`` and ``POST /api/node/{id}/delete``.

Bearer tokens are checked by :class:`zuul.lib.auth.Authenticator` exactly as Zuul's admin
routes do (401 without a valid token, 403 when its admin claim does not list ``nodepool`` or
``*``). Without an ``auth`` section the admin routes answer 403. The node is changed under its
kazoo lock; a node someone holds locked (a build using it) answers 409.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from kazoo.exceptions import KazooException, LockTimeout

from nodepool.api.views import zookeeper_unavailable
from nodepool.zk import NodepoolStore, NodeState, RecordGone
from zuul.lib.auth import Authenticator
from zuul.lib.web import JSONHTTPError, SnapshotCache, json_response

ADMIN_SCOPE = "nodepool"
LOCK_TIMEOUT = 2.0
HOLDABLE = (NodeState.READY, NodeState.USED, NodeState.FAILED, NodeState.HOLD)


class AdminViews:
    """Handlers that change nodes, for bearers of an admin token."""

    def __init__(self, store: NodepoolStore, auth: Authenticator | None, owner: str,
                 cache: SnapshotCache) -> None:
        self.store = store
        self.auth = auth
        self.owner = owner
        self.cache = cache

    def _authorize(self, request: web.Request) -> dict[str, Any]:
        if self.auth is None:
            raise JSONHTTPError(403, "forbidden",
                                "Admin actions are disabled: the launcher has no auth section.")
        return self.auth.authorize(request, ADMIN_SCOPE)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise JSONHTTPError(400, "bad_request", "The body must be a JSON object.") from None
        if not isinstance(body, dict):
            raise JSONHTTPError(400, "bad_request", "The body must be a JSON object.")
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise JSONHTTPError(400, "bad_request", "reason must be a string.")
        return body

    def _change(self, node_id: str, state: str, reason: str | None) -> dict[str, Any]:
        lock = self.store.node_lock(node_id, self.owner)
        if self.store.get_node(node_id) is None:
            raise JSONHTTPError(404, "not_found", f"No node {node_id}.")
        try:
            lock.acquire(timeout=LOCK_TIMEOUT)
        except LockTimeout:
            raise JSONHTTPError(409, "conflict", f"Node {node_id} is locked (in use).") from None
        try:
            node = self.store.get_node(node_id)
            if node is None:
                raise JSONHTTPError(404, "not_found", f"No node {node_id}.")
            if state == NodeState.HOLD and (
                    node.state not in HOLDABLE
                    or node.allocated_to and node.state == NodeState.READY):
                raise JSONHTTPError(409, "conflict",
                                    f"Node {node_id} is {node.state}"
                                    f"{' and allocated' if node.allocated_to else ''}; "
                                    "it cannot be held now.")
            node.state = state
            if reason is not None:
                node.comment = reason
            self.store.update_node(node)
            return node.public()
        except RecordGone:
            raise JSONHTTPError(409, "conflict", f"Node {node_id} changed; try again.") from None
        finally:
            lock.release()
            self.store.remove_if_empty(node_id)

    async def _act(self, request: web.Request, state: str) -> web.Response:
        self._authorize(request)
        body = await self._body(request)
        node_id = request.match_info["node_id"]
        if not node_id.isdigit():
            raise JSONHTTPError(404, "not_found", f"No node {node_id}.")
        if not self.store.client.connected:
            raise zookeeper_unavailable(None)
        try:
            node = await asyncio.to_thread(self._change, node_id, state, body.get("reason"))
        except KazooException as exc:
            raise zookeeper_unavailable(exc) from None
        self.cache.invalidate()
        return json_response({"node": node})

    async def hold(self, request: web.Request) -> web.Response:
        """``POST /api/node/{id}/hold`` (body ``{"reason": ...}`` optional)."""
        return await self._act(request, NodeState.HOLD)

    async def delete(self, request: web.Request) -> web.Response:
        """``POST /api/node/{id}/delete``: the launcher removes (or re-registers) it."""
        return await self._act(request, NodeState.DELETING)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/node/{node_id}/hold", self.hold)
        app.router.add_post("/api/node/{node_id}/delete", self.delete)
