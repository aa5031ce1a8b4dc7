"""Build history routes: ``/api/tenant/{t}/builds`` and ``/api/tenant/{t}/build/{uuid}``."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from zuul.api.common import get_tenant, int_query
from zuul.lib.web import JSONHTTPError, json_response

if TYPE_CHECKING:
    from zuul.scheduler.service import SchedulerService


def add_routes(app: web.Application, service: SchedulerService) -> None:
    """Register the build history routes."""
    history = service.history

    async def builds(request: web.Request) -> web.Response:
        """Builds, newest first; filters project, pipeline, job_name, change, result."""
        tenant = get_tenant(service.scheduler, request)
        filters: dict[str, object] = {k: request.query.get(k) for k in
                                      ("project", "pipeline", "job_name", "result", "uuid")}
        change = request.query.get("change")
        if change is not None:
            if not change.isdigit():
                raise JSONHTTPError(400, "bad_request", "'change' must be a number.")
            filters["change"] = int(change)
        limit = int_query(request, "limit", 50, 1000)
        skip = int_query(request, "skip", 0, 10**9)
        rows = await asyncio.to_thread(history.builds, tenant.name, limit, skip, **filters)
        return json_response(rows)

    async def build(request: web.Request) -> web.Response:
        tenant = get_tenant(service.scheduler, request)
        uuid = request.match_info["uuid"]
        rows = await asyncio.to_thread(history.builds, tenant.name, 1, 0, uuid=uuid)
        if not rows:
            raise JSONHTTPError(404, "not_found", f"Build '{uuid}' does not exist.")
        return json_response(rows[0])

    app.router.add_get("/api/tenant/{tenant}/builds", builds)
    app.router.add_get("/api/tenant/{tenant}/build/{uuid}", build)
