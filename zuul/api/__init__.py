"""The scheduler's REST API (Zuul's routes and shapes, ``zuul/web`` in Zuul).

One route table (:mod:`zuul.api.routes`) built from the route modules; each route declares
its access (anonymous read or tenant admin). Routes read the scheduler only through
:class:`zuul.api.view.APIContext`; this package never imports ``zuul.scheduler``.
"""
from __future__ import annotations

from aiohttp import web

from zuul.api.routes import Route, install
from zuul.api.view import APIContext


def route_table(ctx: APIContext) -> list[Route]:
    """Every API route, in matching order (specific project routes before the generic)."""
    from zuul.api import admin, builds, nodes, openapi, system, tenants

    table: list[Route] = []
    table.extend(system.routes(ctx, lambda: table))
    table.extend(admin.routes(ctx))
    table.extend(tenants.routes(ctx))
    table.extend(builds.routes(ctx))
    table.extend(nodes.routes(ctx))
    table.extend(openapi.routes())
    return table


def add_routes(app: web.Application, ctx: APIContext) -> list[Route]:
    """Register every API route of the scheduler on ``app``; return the table."""
    return install(app, route_table(ctx), ctx.auth)
