"""System routes: the ``/api`` index, info, connections, components, authorizations."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from zuul.api.common import get_tenant
from zuul.api.routes import Route, index
from zuul.api.view import APIContext
from zuul.lib.web import JSONHTTPError, json_response


def routes(ctx: APIContext, all_routes: Callable[[], list[Route]]) -> list[Route]:
    """System routes; ``all_routes()`` gives the whole table (for the index)."""

    async def api_index(_request: web.Request) -> web.Response:
        return json_response(index(all_routes()))

    async def info(request: web.Request) -> web.Response:
        return json_response(ctx.info(ctx.base_url(request), None))

    async def connections(_request: web.Request) -> web.Response:
        return json_response(ctx.extra.get("connections", []))

    async def components(_request: web.Request) -> web.Response:
        if ctx.components is None:
            return json_response({})
        try:
            return json_response(await ctx.components())
        except Exception as exc:  # noqa: BLE001 - ZooKeeper away: say so, as JSON
            raise JSONHTTPError(503, "service_unavailable",
                                f"The component registry is unreachable: "
                                f"{type(exc).__name__}") from None

    def _authorizations(request: web.Request, scope: str) -> dict[str, Any]:
        auth = ctx.auth()
        if auth is None:
            raise JSONHTTPError(403, "forbidden", "No authentication is configured.")
        claims = auth.decode(request)
        granted = auth.scopes(claims)
        admin = scope in granted or "*" in granted
        return {"zuul": {"admin": admin, "permissions": {"read": True, "admin": admin},
                         "scope": [scope]}}

    async def root_authorizations(request: web.Request) -> web.Response:
        """What the bearer may do across tenants (401 without a token, as in Zuul)."""
        return json_response(_authorizations(request, "*"))

    async def tenant_authorizations(request: web.Request) -> web.Response:
        tenant = get_tenant(ctx.view, request)
        return json_response(_authorizations(request, tenant.name))

    return [
        Route("index", "GET", "/api", api_index),
        Route("info", "GET", "/api/info", info),
        Route("connections", "GET", "/api/connections", connections),
        Route("components", "GET", "/api/components", components),
        Route("authorizations", "GET", "/api/authorizations", root_authorizations),
        Route("tenant_authorizations", "GET", "/api/tenant/{tenant}/authorizations",
              tenant_authorizations),
    ]
