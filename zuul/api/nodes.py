"""Tenant-scoped Nodepool routes: ``nodes``, ``PUT nodes/{id}``, ``nodeset-requests`` and
their deletion.

A node belongs to a tenant when it is allocated to a node request of one of the tenant's
queued builds, or held for one of the tenant's autohold requests. ZooKeeper calls run in
the node requester's threads.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from zuul.api.common import get_tenant, json_body
from zuul.api.routes import Access, Route
from zuul.api.view import APIContext
from zuul.lib.web import JSONHTTPError, json_response

# Target state -> the states a node may be changed from.
PUT_STATES = {"hold": ("ready", "hold"), "used": ("ready", "hold")}
COMMENT_MAX = 1024


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) if ts else None


def _node_dict(node: Any) -> dict[str, Any]:
    labels = list(getattr(node, "type", None) or getattr(node, "labels", None) or [])
    return {"id": node.id, "type": labels or [node.label], "label": node.label,
            "connection_type": node.connection_type,
            "external_id": getattr(node, "external_id", None) or node.hostname or None,
            "provider": node.provider or "", "state": str(node.state),
            "state_time": node.state_time, "comment": node.comment,
            "allocated_to": node.allocated_to,
            # the build that took the node (zuul.nodes records it in Nodepool's user_data)
            "build_uuid": node.user_data.get("build_uuid")
            if isinstance(node.user_data, dict) else None,
            # Zuul 14.3's dashboard reads these (its nodes table splits ``lock_holder``);
            # ``uuid`` names the node for its PUT nodes/{id} actions.
            "uuid": node.id, "lock_holder": None, "is_locked": node.state == "in-use",
            "next_state": None, "main_node_id": None}


def _request_dict(request: Any, build: dict[str, Any]) -> dict[str, Any]:
    return {"uuid": request.id, "state": str(request.state),
            "pipeline_name": build.get("pipeline"), "buildset_uuid": build.get("buildset_uuid"),
            "job_name": build.get("job_name"), "labels": request.node_types,
            "priority": request.priority, "request_time": _iso(request.created_time),
            "zuul_event_id": None, "image_names": [], "image_upload_uuid": None,
            "relative_priority": 0, "provider_node_data": [], "is_locked": False,
            "lock_holder": None}


class NodeRoutes:
    """Handlers bound to the API context."""

    def __init__(self, ctx: APIContext) -> None:
        self.ctx = ctx

    def _store(self) -> Any:
        nodes = self.ctx.nodes()
        if nodes is None:
            raise JSONHTTPError(404, "not_found", "This scheduler has no ZooKeeper.")
        if not nodes.connected:
            raise JSONHTTPError(503, "service_unavailable", "ZooKeeper is not reachable.")
        return nodes.store

    async def _tenant_view(self, tenant: str) -> tuple[list[Any], dict[str, Any],
                                                       dict[str, dict[str, Any]]]:
        """The tenant's nodes and requests: (nodes, requests by id, builds by uuid)."""
        store = self._store()
        builds = self.ctx.view.live_builds(tenant)
        holds = {h["id"] for h in await asyncio.to_thread(self.ctx.history.autoholds, tenant)}
        requests, nodes = await asyncio.to_thread(lambda: (store.requests(), store.nodes()))
        mine = {r.id: r for r in requests if r.build_uuid in builds}
        return ([n for n in nodes if n.allocated_to in mine or n.tenant_name == tenant or
                 (n.state == "hold" and str(n.hold_job) in holds)], mine, builds)

    async def nodes(self, request: web.Request) -> web.Response:
        tenant = get_tenant(self.ctx.view, request)
        nodes, _requests, _builds = await self._tenant_view(tenant.name)
        return json_response([_node_dict(n) for n in nodes])

    async def put_node(self, request: web.Request) -> web.Response:
        """``PUT nodes/{id}`` ``{"state": "hold"|"used", "comment": ...}``."""
        tenant = get_tenant(self.ctx.view, request)
        body = await json_body(request)
        state = body.get("state")
        if state not in PUT_STATES:
            raise JSONHTTPError(400, "bad_request", "'state' must be 'hold' or 'used'.")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise JSONHTTPError(400, "bad_request", "'comment' must be a string.")
        node_id = request.match_info["id"]
        nodes, _requests, _builds = await self._tenant_view(tenant.name)
        node = next((n for n in nodes if n.id == node_id), None)
        if node is None:
            raise JSONHTTPError(404, "not_found", f"Node {node_id} not found.")
        if node.state not in PUT_STATES[state]:
            raise JSONHTTPError(409, "conflict", f"Node {node_id} is {node.state}.")
        node.state = state
        node.comment = (comment or None)[:COMMENT_MAX] if state == "hold" and comment \
            else (node.comment if state == "hold" else None)
        store = self._store()
        try:
            await asyncio.to_thread(store.update_node, node)
        except Exception as exc:  # noqa: BLE001 - RecordGone: someone changed it first
            raise JSONHTTPError(409, "conflict", f"Node {node_id} changed meanwhile: "
                                f"{type(exc).__name__}") from None
        # As in Zuul, the answer is null (zuul-client treats anything else as a failure).
        return json_response(None, status=201)

    async def requests(self, request: web.Request) -> web.Response:
        tenant = get_tenant(self.ctx.view, request)
        _nodes, requests, builds = await self._tenant_view(tenant.name)
        return json_response([_request_dict(r, builds.get(r.build_uuid or "", {}))
                              for r in requests.values()])

    async def delete_request(self, request: web.Request) -> web.Response:
        """Delete a nodeset request: its build fails with NODE_FAILURE."""
        tenant = get_tenant(self.ctx.view, request)
        request_id = request.match_info["id"]
        _nodes, requests, _builds = await self._tenant_view(tenant.name)
        if request_id not in requests:
            raise JSONHTTPError(404, "not_found", f"Nodeset request {request_id} not found.")
        await asyncio.to_thread(self._store().delete_request, request_id)
        return web.Response(status=204)


def routes(ctx: APIContext) -> list[Route]:
    """The node routes."""
    r = NodeRoutes(ctx)
    base = "/api/tenant/{tenant}"
    return [
        Route("nodes", "GET", base + "/nodes", r.nodes),
        Route("node_put", "PUT", base + "/nodes/{id}", r.put_node, Access.TENANT_ADMIN),
        Route("nodeset_requests", "GET", base + "/nodeset-requests", r.requests),
        Route("nodeset_request_delete", "DELETE", base + "/nodeset-requests/{id}",
              r.delete_request, Access.TENANT_ADMIN),
    ]
