"""Helpers shared by the route modules: tenant/project lookup, query parsing, JSON bodies."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from zuul.lib.web import JSONHTTPError
from zuul.scheduler.model import Project, Tenant
from zuul.scheduler.scheduler import Scheduler


def get_tenant(scheduler: Scheduler, request: web.Request) -> Tenant:
    """The tenant named in the path, or a JSON 404."""
    name = request.match_info["tenant"]
    tenant = scheduler.tenants.get(name)
    if tenant is None:
        raise JSONHTTPError(404, "not_found", f"Tenant '{name}' does not exist.")
    return tenant


def get_project(tenant: Tenant, name: str) -> Project:
    """A project of ``tenant``, or a JSON 404."""
    project = tenant.projects.get(name)
    if project is None:
        raise JSONHTTPError(404, "not_found",
                            f"Project '{name}' does not exist in tenant '{tenant.name}'.")
    return project


def get_pipeline(tenant: Tenant, name: Any) -> str:
    """A pipeline name of ``tenant``, or a JSON 404 (400 when not a string)."""
    if not isinstance(name, str) or not name:
        raise JSONHTTPError(400, "bad_request", "'pipeline' must be a non-empty string.")
    if name not in tenant.pipelines:
        raise JSONHTTPError(404, "not_found",
                            f"Pipeline '{name}' does not exist in tenant '{tenant.name}'.")
    return name


def int_query(request: web.Request, key: str, default: int, maximum: int) -> int:
    """A non-negative integer query parameter, or a JSON 400."""
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit():
        raise JSONHTTPError(400, "bad_request", f"'{key}' must be a non-negative integer.")
    return min(int(raw), maximum)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a JSON 400."""
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise JSONHTTPError(400, "bad_request", "The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise JSONHTTPError(400, "bad_request", "The body must be a JSON object.")
    return body
