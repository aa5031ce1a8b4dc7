"""Build history routes: builds, build, buildsets, buildset, build-times and the badge.

Every filter Zuul's API (and zuul-client) sends is honoured; a repeated parameter matches any
of its values, as in Zuul.
"""
from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urljoin

from aiohttp import web

from zuul.api.common import bool_query, find_project, get_tenant, int_query
from zuul.api.routes import Route
from zuul.api.view import APIContext
from zuul.lib.web import JSONHTTPError, json_response

MAX_LIMIT = 1000
COMMON = ("pipeline", "branch", "patchset", "ref", "newrev", "uuid", "result")


def _values(request: web.Request, key: str) -> list[str] | None:
    values = [v for v in request.query.getall(key, []) if v != ""]
    return values or None


def _filters(request: web.Request, tenant: Any, extra: tuple[str, ...]) -> dict[str, Any]:
    filters: dict[str, Any] = {k: _values(request, k) for k in COMMON + extra}
    projects = _values(request, "project")
    if projects:
        # Canonical names (github.com/org/repo) are stored by their short name.
        filters["project"] = [p.name if (p := find_project(tenant, name)) else name
                              for name in projects]
    changes = _values(request, "change")
    if changes:
        if not all(c.isdigit() for c in changes):
            raise JSONHTTPError(400, "bad_request", "'change' must be a number.")
        filters["change"] = [int(c) for c in changes]
    filters["exclude_result"] = _values(request, "exclude_result")
    filters["complete"] = bool_query(request, "complete")
    filters["limit"] = int_query(request, "limit", 50, MAX_LIMIT)
    filters["skip"] = int_query(request, "skip", 0, 10**9)
    return filters


def absolute_log_urls(builds: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Builds whose relative ``log_url`` (``logs/<uuid>/``, no ``public_url`` configured) is
    made absolute against the API's public base: Zuul's dashboard parses it with ``new URL``
    and fetches ``job-output.json`` from it, as zuul-client does."""
    for build in builds:
        if build.get("log_url"):
            build["log_url"] = urljoin(base, build["log_url"])
    return builds


def _badge(result: str | None) -> str:
    text, color = {"SUCCESS": ("passing", "#4c1"), None: ("unknown", "#9f9f9f")}.get(
        result, ("failing", "#e05d44"))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="98" height="20" role="img" '
        f'aria-label="zuul: {text}"><title>zuul: {text}</title>'
        '<rect width="37" height="20" fill="#555"/>'
        f'<rect x="37" width="61" height="20" fill="{color}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="DejaVu Sans,Verdana,Geneva,'
        'sans-serif" font-size="11">'
        '<text x="18.5" y="14">zuul</text>'
        f'<text x="66.5" y="14">{text}</text></g></svg>')


def routes(ctx: APIContext) -> list[Route]:
    """The build history routes."""
    history = ctx.history
    view = ctx.view

    async def builds(request: web.Request) -> web.Response:
        """Builds, newest first, with every Zuul filter."""
        tenant = get_tenant(view, request)
        filters = _filters(request, tenant, ("job_name",))
        for key in ("voting", "held"):
            flag = bool_query(request, key)
            filters[key] = [flag] if flag is not None else None
        filters["nodeset"] = request.query.get("nodeset") or request.query.get("node_name")
        for key in ("idx_min", "idx_max"):
            if request.query.get(key):
                filters[key] = int_query(request, key, 0, 2**62)
        if bool_query(request, "final") is False:
            return json_response([])  # every stored build is final
        rows = await asyncio.to_thread(history.builds, tenant.name, **filters)
        return json_response(absolute_log_urls(rows, ctx.base_url(request)))

    async def build(request: web.Request) -> web.Response:
        tenant = get_tenant(view, request)
        uuid = request.match_info["uuid"]
        rows = await asyncio.to_thread(history.builds, tenant.name, 1, 0, uuid=uuid)
        if not rows:
            raise JSONHTTPError(404, "not_found", f"Build '{uuid}' does not exist.")
        return json_response(absolute_log_urls(rows, ctx.base_url(request))[0])

    async def buildsets(request: web.Request) -> web.Response:
        tenant = get_tenant(view, request)
        rows = await asyncio.to_thread(history.buildsets, tenant.name,
                                       **_filters(request, tenant, ()))
        return json_response(rows)

    async def buildset(request: web.Request) -> web.Response:
        tenant = get_tenant(view, request)
        uuid = request.match_info["uuid"]
        found = await asyncio.to_thread(history.buildset, tenant.name, uuid)
        if found is None:
            raise JSONHTTPError(404, "not_found", f"Buildset '{uuid}' does not exist.")
        absolute_log_urls(found["builds"], ctx.base_url(request))
        return json_response(found)

    async def build_times(request: web.Request) -> web.Response:
        tenant = get_tenant(view, request)
        filters = _filters(request, tenant, ("job_name",))
        filters.pop("complete")
        rows = await asyncio.to_thread(history.build_times, tenant.name, **filters)
        return json_response(rows)

    async def badge(request: web.Request) -> web.Response:
        """An SVG badge of the newest buildset's result (``project``, ``pipeline``,
        ``branch`` filters)."""
        tenant = get_tenant(view, request)
        name = request.query.get("project")
        project = find_project(tenant, name) if name else None
        if name and project is None:
            raise JSONHTTPError(404, "not_found", f"Project '{name}' does not exist.")
        result = await asyncio.to_thread(
            history.last_buildset_result, tenant.name, project.name if project else None,
            request.query.get("pipeline") or None, request.query.get("branch") or None)
        return web.Response(text=_badge(result), content_type="image/svg+xml",
                            headers={"Cache-Control": "no-cache"})

    async def system_events(request: web.Request) -> web.Response:
        tenant = get_tenant(view, request)
        bounds = {key: int_query(request, key, 0, 2**62) if request.query.get(key) else None
                  for key in ("idx_min", "idx_max")}
        rows = await asyncio.to_thread(
            history.system_events, tenant.name, request.query.get("event_type") or None,
            int_query(request, "limit", 50, MAX_LIMIT), int_query(request, "skip", 0, 10**9),
            **bounds)
        return json_response(rows)

    base = "/api/tenant/{tenant}"
    return [
        Route("system_events", "GET", base + "/system-events", system_events),
        Route("builds", "GET", base + "/builds", builds),
        Route("build", "GET", base + "/build/{uuid}", build),
        Route("buildsets", "GET", base + "/buildsets", buildsets),
        Route("buildset", "GET", base + "/buildset/{uuid}", buildset),
        Route("build_times", "GET", base + "/build-times", build_times),
        Route("badge", "GET", base + "/badge", badge),
    ]
