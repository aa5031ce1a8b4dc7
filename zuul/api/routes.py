"""The API's one route table: each route declares who may call it.

A :class:`Route` names its method, path, handler and :class:`Access`. :func:`install` adds
every route to the aiohttp app, wrapping tenant-admin routes with the token check (401/403
before the handler runs) and one audit log line per admin action, whatever its outcome.
"""
from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from zuul.lib.auth import Authenticator
from zuul.lib.web import JSONHTTPError

audit = logging.getLogger("zuul.api.audit")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Where a route handler finds the verified token claims of an admin request.
CLAIMS_KEY = "zuul.claims"


class Access(enum.Enum):
    """Who may call a route."""

    ANONYMOUS = "anonymous"
    TENANT_ADMIN = "tenant-admin"


@dataclass(frozen=True)
class Route:
    """One route: ``name`` is its key in the ``/api`` index (Zuul's names)."""

    name: str
    method: str
    path: str
    handler: Handler
    access: Access = Access.ANONYMOUS

    @property
    def index_path(self) -> str:
        """The path as the ``/api`` index shows it (``{tenant}`` placeholders, no regexes)."""
        parts = []
        for part in self.path.split("/"):
            if part.startswith("{") and ":" in part:
                part = part.split(":", 1)[0] + "}"
            parts.append(part)
        return "/".join(parts)


def _admin(route: Route, auth: Callable[[], Authenticator | None]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        tenant = request.match_info.get("tenant", "")
        authenticator = auth()
        status, subject = 500, "-"
        try:
            if authenticator is None:
                raise JSONHTTPError(401, "unauthorized", "No authentication is configured, "
                                    "so admin actions are disabled.",
                                    headers={"WWW-Authenticate": 'Bearer realm="zuul"'})
            claims = authenticator.authorize(request, tenant)
            subject = str(claims.get("sub", "-"))
            request[CLAIMS_KEY] = claims
            response = await route.handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            audit.info("admin action=%s tenant=%s subject=%s method=%s path=%s status=%d "
                       "at=%.3f", route.name, tenant, subject, request.method,
                       request.path, status, time.time())

    return handler


def install(app: web.Application, routes: Iterable[Route],
            auth: Callable[[], Authenticator | None]) -> list[Route]:
    """Add ``routes`` to ``app``; ``auth()`` gives the authenticator (None: admin off)."""
    installed = list(routes)
    for route in installed:
        handler = route.handler if route.access is Access.ANONYMOUS else _admin(route, auth)
        app.router.add_route(route.method, route.path, handler, name=None)
    return installed


def index(routes: Iterable[Route]) -> dict[str, Any]:
    """Zuul's ``GET /api`` index: route name -> path."""
    found: dict[str, Any] = {}
    for route in routes:
        found.setdefault(route.name, route.index_path)
    return found
