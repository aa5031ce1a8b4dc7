"""``GET /api/openapi.yaml``: the OpenAPI 3 document of this API (``zuul/openapi.yaml``)."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from zuul.api.routes import Route

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"


def routes() -> list[Route]:
    """The route serving the OpenAPI document."""

    async def openapi(_request: web.Request) -> web.Response:
        return web.Response(body=SPEC.read_bytes(), content_type="application/yaml")

    return [Route("openapi", "GET", "/api/openapi.yaml", openapi)]
