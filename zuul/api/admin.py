"""Admin routes (bearer JWT, per-tenant admin claim): enqueue, dequeue, promote, autohold,
reconfigure. Checks in order: token (401/403), tenant/project (404), body (400), pipeline
and change (404)."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from zuul.api.common import get_pipeline, get_project, get_tenant, json_body
from zuul.lib.config import ConfigError
from zuul.lib.web import JSONHTTPError, json_response
from zuul.scheduler.model import Change, Tenant
from zuul.scheduler.triggers import change_from_pull_request

if TYPE_CHECKING:
    from zuul.scheduler.service import SchedulerService


def _string(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise JSONHTTPError(400, "bad_request", f"'{key}' must be a non-empty string.")
    return value


class AdminRoutes:
    """Handlers bound to the scheduler service."""

    def __init__(self, service: SchedulerService) -> None:
        self.service = service
        self.scheduler = service.scheduler

    def _authorize(self, request: web.Request) -> Tenant:
        if self.service.auth is None:
            raise JSONHTTPError(401, "unauthorized", "No authentication is configured, so "
                                "admin actions are disabled.",
                                headers={"WWW-Authenticate": 'Bearer realm="zuul"'})
        self.service.auth.authorize(request, request.match_info["tenant"])
        return get_tenant(self.scheduler, request)

    async def _change(self, tenant: Tenant, project: str, spec: str) -> Change:
        number, _, sha = spec.partition(",")
        if not number.isdigit():
            raise JSONHTTPError(400, "bad_request", "'change' must be 'N' or 'N,sha'.")
        known = self.scheduler.known_changes.get((project, int(number)))
        if known is not None and (not sha or sha == known.newrev):
            return known
        if sha:
            conn = tenant.projects[project].connection
            return Change(project=project, connection=conn, ref=f"refs/pull/{number}/head",
                          newrev=sha, number=int(number))
        reporter = self.scheduler.reporters.get(tenant.projects[project].connection)
        pull = await reporter.get_pull(project, int(number)) if reporter else None
        if pull is None:
            raise JSONHTTPError(404, "not_found", f"Change {number} of {project} is unknown.")
        return change_from_pull_request(reporter.name, project, pull)  # type: ignore[union-attr]

    async def enqueue(self, request: web.Request) -> web.Response:
        """``POST .../project/{project}/enqueue``: ``{pipeline, change}`` or a ref."""
        tenant = self._authorize(request)
        project = get_project(tenant, request.match_info["project"])
        body = await json_body(request)
        pipeline = get_pipeline(tenant, body.get("pipeline"))
        if "change" in body:
            change = await self._change(tenant, project.name, str(_string(body, "change")))
        else:
            ref = str(_string(body, "ref"))
            change = Change(project=project.name, connection=project.connection, ref=ref,
                            oldrev=_string(body, "oldrev", False) or "",
                            newrev=str(_string(body, "newrev")),
                            branch=ref.removeprefix("refs/heads/"))
        if not project.pipelines.get(pipeline):
            raise JSONHTTPError(400, "bad_request", f"Project {project.name} has no jobs in "
                                f"pipeline {pipeline}.")
        if self.scheduler.enqueue(tenant.name, pipeline, change, "admin") is None:
            raise JSONHTTPError(409, "conflict", f"{change.id} is already in {pipeline}.")
        self.service.snapshots.invalidate()
        return json_response(True)

    async def dequeue(self, request: web.Request) -> web.Response:
        """``POST .../project/{project}/dequeue``: ``{pipeline, change}`` or ``{pipeline, ref}``."""
        tenant = self._authorize(request)
        project = get_project(tenant, request.match_info["project"])
        body = await json_body(request)
        pipeline = get_pipeline(tenant, body.get("pipeline"))
        spec = _string(body, "change", False) or str(_string(body, "ref"))
        items = self.scheduler.find_items(tenant.name, pipeline, project.name, spec)
        if not items:
            raise JSONHTTPError(404, "not_found", f"{spec} is not in pipeline {pipeline}.")
        self.scheduler.dequeue(tenant.name, pipeline, items)
        self.service.snapshots.invalidate()
        return json_response(True)

    async def promote(self, request: web.Request) -> web.Response:
        """``POST /api/tenant/{tenant}/promote``: ``{pipeline, changes: [...]}``."""
        tenant = self._authorize(request)
        body = await json_body(request)
        pipeline = get_pipeline(tenant, body.get("pipeline"))
        changes = body.get("changes")
        if not isinstance(changes, list) or not changes or \
                not all(isinstance(c, str) and c for c in changes):
            raise JSONHTTPError(400, "bad_request", "'changes' must be a list of strings.")
        manager = self.scheduler.managers[tenant.name][pipeline]
        items = []
        for spec in changes:
            found = manager.find(lambda c, s=spec: c.matches(s))
            if not found:
                raise JSONHTTPError(404, "not_found", f"{spec} is not in pipeline {pipeline}.")
            items.extend(found)
        self.scheduler.promote(tenant.name, pipeline, items)
        self.service.snapshots.invalidate()
        return json_response(True)

    async def autohold(self, request: web.Request) -> web.Response:
        """``POST .../project/{project}/autohold``: hold the nodes of a failing job."""
        tenant = self._authorize(request)
        project = get_project(tenant, request.match_info["project"])
        body = await json_body(request)
        job = str(_string(body, "job"))
        reason = str(_string(body, "reason"))
        change, ref = _string(body, "change", False), _string(body, "ref", False)
        if change and ref:
            raise JSONHTTPError(400, "bad_request", "Give 'change' or 'ref', not both.")
        if change and not change.partition(",")[0].isdigit():
            raise JSONHTTPError(400, "bad_request", "'change' must be a number.")
        count, expiration = body.get("count", 1), body.get("node_hold_expiration", 0)
        for key, value in (("count", count), ("node_hold_expiration", expiration)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise JSONHTTPError(400, "bad_request", f"'{key}' must be an integer >= 0.")
        if count < 1:
            raise JSONHTTPError(400, "bad_request", "'count' must be at least 1.")
        if job not in tenant.jobs:
            raise JSONHTTPError(404, "not_found", f"Job '{job}' does not exist.")
        ref_filter = (f"^refs/pull/{change.partition(',')[0]}/head$" if change
                      else ref if ref else ".*")
        hold = await asyncio.to_thread(
            self.service.history.add_autohold, tenant.name, project.name, job, ref_filter,
            reason, count, expiration)
        return json_response(hold)

    async def autohold_list(self, request: web.Request) -> web.Response:
        tenant = self._authorize(request)
        return json_response(await asyncio.to_thread(self.service.history.autoholds,
                                                     tenant.name))

    async def autohold_get(self, request: web.Request) -> web.Response:
        tenant = self._authorize(request)
        hold_id = request.match_info["id"]
        hold = await asyncio.to_thread(self.service.history.autohold, tenant.name, hold_id)
        if hold is None:
            raise JSONHTTPError(404, "not_found", f"Autohold request {hold_id} not found.")
        return json_response(hold)

    async def autohold_delete(self, request: web.Request) -> web.Response:
        tenant = self._authorize(request)
        hold_id = request.match_info["id"]
        if not await asyncio.to_thread(self.service.history.delete_autohold, tenant.name,
                                       hold_id):
            raise JSONHTTPError(404, "not_found", f"Autohold request {hold_id} not found.")
        return web.Response(status=204)

    async def reconfigure(self, request: web.Request) -> web.Response:
        """``POST /api/tenant/{tenant}/reconfigure``: reload the tenant config file."""
        self._authorize(request)
        try:
            await self.service.reload()
        except ConfigError as exc:
            raise JSONHTTPError(400, "config_error", str(exc)) from None
        return json_response(True)


def add_routes(app: web.Application, service: SchedulerService) -> None:
    """Register the admin routes."""
    r = AdminRoutes(service)
    base = "/api/tenant/{tenant}"
    app.router.add_post(base + "/project/{project:.+}/enqueue", r.enqueue)
    app.router.add_post(base + "/project/{project:.+}/dequeue", r.dequeue)
    app.router.add_post(base + "/project/{project:.+}/autohold", r.autohold)
    app.router.add_post(base + "/promote", r.promote)
    app.router.add_get(base + "/autohold", r.autohold_list)
    app.router.add_get(base + "/autohold/{id}", r.autohold_get)
    app.router.add_delete(base + "/autohold/{id}", r.autohold_delete)
    app.router.add_post(base + "/reconfigure", r.reconfigure)
