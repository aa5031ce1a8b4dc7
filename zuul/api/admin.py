"""Admin routes (tenant admin, declared in the route table): enqueue, dequeue, promote,
autohold, reconfigure, tenant event state; plus the anonymous autohold reads, as in Zuul.

The route table checks the token (401/403) before a handler runs; handlers check
tenant/project (404), body (400), then pipeline and change (404).
"""
from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from zuul.api.common import body_string, get_pipeline, get_project, get_tenant, json_body
from zuul.api.routes import Access, Route
from zuul.api.view import APIContext
from zuul.lib.config import ConfigError
from zuul.lib.web import JSONHTTPError, json_response

ADMIN = Access.TENANT_ADMIN
REASON_MAX = 1024
TIP_REFS = ("refs/heads/", "refs/tags/")  # refs Zuul enqueues at their head when no newrev


def _int(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise JSONHTTPError(400, "bad_request", f"'{key}' must be an integer >= 0.")
    return value


def _parameters(body: dict[str, Any], project: str, pipeline: str) -> None:
    """Zuul 14.3's enqueue ``parameters``: only with a branch or tag, and only those the
    project's pipeline config declares; our config language declares none."""
    parameters = body.get("parameters")
    if parameters in (None, {}):
        return
    if not isinstance(parameters, dict):
        raise JSONHTTPError(400, "bad_request", "'parameters' must be an object.")
    if not str(body.get("ref") or "").startswith(TIP_REFS):
        raise JSONHTTPError(400, "bad_request",
                            "Parameters are supported only with branches or tags.")
    raise JSONHTTPError(400, "bad_request", f"{project} declares no parameters in "
                        f"pipeline {pipeline}: {', '.join(sorted(map(str, parameters)))}.")


class AdminRoutes:
    """Handlers bound to the API context."""

    def __init__(self, ctx: APIContext) -> None:
        self.ctx = ctx
        self.view = ctx.view
        self.control = ctx.control

    async def _change(self, tenant: Any, project: str, spec: str) -> Any:
        number, _, _sha = spec.partition(",")
        if not number.isdigit():
            raise JSONHTTPError(400, "bad_request", "'change' must be 'N' or 'N,sha'.")
        change = await self.control.resolve_change(tenant.name, project, spec)
        if change is None:
            raise JSONHTTPError(404, "not_found", f"Change {number} of {project} is unknown.")
        return change

    async def enqueue(self, request: web.Request) -> web.Response:
        """``POST .../project/{project}/enqueue``: ``{pipeline, change}`` or a ref.

        As in Zuul, a change already in the pipeline is accepted (``true``) and not added
        twice."""
        tenant = get_tenant(self.view, request)
        project = get_project(tenant, request.match_info["project"])
        body = await json_body(request)
        pipeline = get_pipeline(tenant, body.get("pipeline"))
        _parameters(body, project.name, pipeline)
        if body_string(body, "change", False):
            change = await self._change(tenant, project.name, str(body_string(body, "change")))
        else:
            ref = str(body_string(body, "ref"))
            newrev = body_string(body, "newrev", not ref.startswith(TIP_REFS))
            if newrev is None:  # a branch or tag without newrev: its head now, as Zuul does
                newrev = await self.control.resolve_ref(tenant.name, project.name, ref)
                if newrev is None:
                    raise JSONHTTPError(404, "not_found",
                                        f"{ref} does not exist in {project.name}.")
            change = self.control.ref_change(tenant.name, project.name, ref,
                                             body_string(body, "oldrev", False) or "", newrev)
        outcome = self.control.enqueue(tenant.name, pipeline, change)
        if outcome == "no-jobs":
            raise JSONHTTPError(400, "bad_request", f"Project {project.name} has no jobs in "
                                f"pipeline {pipeline}.")
        self.ctx.snapshots.invalidate()
        return json_response(True)

    async def dequeue(self, request: web.Request) -> web.Response:
        """``POST .../project/{project}/dequeue``: ``{pipeline, change}`` or ``{pipeline, ref}``."""
        tenant = get_tenant(self.view, request)
        project = get_project(tenant, request.match_info["project"])
        body = await json_body(request)
        pipeline = get_pipeline(tenant, body.get("pipeline"))
        spec = body_string(body, "change", False) or str(body_string(body, "ref"))
        if not self.control.dequeue(tenant.name, pipeline, project.name, spec):
            raise JSONHTTPError(404, "not_found", f"{spec} is not in pipeline {pipeline}.")
        self.ctx.snapshots.invalidate()
        return json_response(True)

    async def promote(self, request: web.Request) -> web.Response:
        """``POST /api/tenant/{tenant}/promote``: ``{pipeline, changes: [...]}``."""
        tenant = get_tenant(self.view, request)
        body = await json_body(request)
        pipeline = get_pipeline(tenant, body.get("pipeline"))
        changes = body.get("changes")
        if not isinstance(changes, list) or not changes or \
                not all(isinstance(c, str) and c for c in changes):
            raise JSONHTTPError(400, "bad_request", "'changes' must be a list of strings.")
        missing = self.control.promote(tenant.name, pipeline, changes)
        if missing is not None:
            raise JSONHTTPError(404, "not_found", f"{missing} is not in pipeline {pipeline}.")
        self.ctx.snapshots.invalidate()
        return json_response(True)

    async def autohold(self, request: web.Request) -> web.Response:
        """``POST .../project/{project}/autohold``: hold the nodes of a failing job."""
        tenant = get_tenant(self.view, request)
        project = get_project(tenant, request.match_info["project"])
        body = await json_body(request)
        job = str(body_string(body, "job"))
        reason = str(body_string(body, "reason"))[:REASON_MAX]
        change, ref = body_string(body, "change", False), body_string(body, "ref", False)
        if change and ref:
            raise JSONHTTPError(400, "bad_request", "change and ref are mutually exclusive.")
        if change and not change.partition(",")[0].isdigit():
            raise JSONHTTPError(400, "bad_request", "'change' must be a number.")
        count = _int(body, "count", 1)
        expiration = _int(body, "node_hold_expiration", 0)
        if count < 1:
            raise JSONHTTPError(400, "bad_request", "'count' must be at least 1.")
        if ref:
            try:
                re.compile(ref)
            except re.error as exc:
                raise JSONHTTPError(400, "bad_request",
                                    f"'ref' is not a valid regular expression: {exc}") from None
        if job not in tenant.jobs:
            raise JSONHTTPError(404, "not_found", f"Job '{job}' does not exist.")
        ref_filter = (f"^refs/pull/{change.partition(',')[0]}/head$" if change
                      else ref if ref else ".*")
        await asyncio.to_thread(
            self.ctx.history.add_autohold, tenant.name, project.name, job, ref_filter,
            reason, count, expiration)
        return json_response(True)

    async def autohold_list(self, request: web.Request) -> web.Response:
        """``GET .../autohold`` (``?project=`` filters) and ``GET .../project/{p}/autohold``."""
        tenant = get_tenant(self.view, request)
        name = request.match_info.get("project") or request.query.get("project")
        project = get_project(tenant, name).name if name else None
        holds = await asyncio.to_thread(self.ctx.history.autoholds, tenant.name)
        return json_response([h for h in holds if project is None or h["project"] == project])

    async def autohold_get(self, request: web.Request) -> web.Response:
        tenant = get_tenant(self.view, request)
        hold_id = request.match_info["id"]
        hold = await asyncio.to_thread(self.ctx.history.autohold, tenant.name, hold_id)
        if hold is None:
            raise JSONHTTPError(404, "not_found", f"Autohold request {hold_id} not found.")
        return json_response(hold)

    async def autohold_delete(self, request: web.Request) -> web.Response:
        tenant = get_tenant(self.view, request)
        hold_id = request.match_info["id"]
        if not await asyncio.to_thread(self.ctx.history.delete_autohold, tenant.name,
                                       hold_id):
            raise JSONHTTPError(404, "not_found", f"Autohold request {hold_id} not found.")
        return web.Response(status=204)

    async def reconfigure(self, request: web.Request) -> web.Response:
        """``POST /api/tenant/{tenant}/reconfigure``: reload the tenant config file."""
        get_tenant(self.view, request)
        try:
            await self.control.reconfigure()
        except ConfigError as exc:
            raise JSONHTTPError(400, "config_error", str(exc)) from None
        self.ctx.snapshots.invalidate()
        return json_response(True)

    async def state(self, request: web.Request) -> web.Response:
        """``POST /api/tenant/{tenant}/state``: pause/resume trigger and result processing."""
        tenant = get_tenant(self.view, request)
        body = await json_body(request)
        flags: dict[str, bool | None] = {}
        for key in ("trigger_queue_paused", "result_queue_paused"):
            value = body.get(key)
            if value is not None and not isinstance(value, bool):
                raise JSONHTTPError(400, "bad_request", f"'{key}' must be true or false.")
            flags[key] = value
        self.control.set_event_processing(tenant.name, flags["trigger_queue_paused"],
                                          flags["result_queue_paused"])
        self.ctx.snapshots.invalidate()
        return json_response(None)


def routes(ctx: APIContext) -> list[Route]:
    """The admin routes and the autohold reads."""
    r = AdminRoutes(ctx)
    base = "/api/tenant/{tenant}"
    project = base + "/project/{project:.+}"
    return [
        Route("enqueue", "POST", project + "/enqueue", r.enqueue, ADMIN),
        Route("dequeue", "POST", project + "/dequeue", r.dequeue, ADMIN),
        Route("autohold", "POST", project + "/autohold", r.autohold, ADMIN),
        Route("project_autohold_list", "GET", project + "/autohold", r.autohold_list),
        Route("promote", "POST", base + "/promote", r.promote, ADMIN),
        Route("autohold_list", "GET", base + "/autohold", r.autohold_list),
        Route("autohold_by_request_id", "GET", base + "/autohold/{id}", r.autohold_get),
        Route("autohold_delete", "DELETE", base + "/autohold/{id}", r.autohold_delete, ADMIN),
        Route("reconfigure", "POST", base + "/reconfigure", r.reconfigure, ADMIN),
        Route("tenant_state", "POST", base + "/state", r.state, ADMIN),
    ]
