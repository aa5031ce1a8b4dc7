"""Helpers shared by the route modules: tenant/project lookup, query parsing, JSON bodies."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from zuul.api.view import SchedulerView
from zuul.lib.web import JSONHTTPError

# Projects' canonical names are ``<hostname>/<name>``; every connection is GitHub here.
CANONICAL_HOST = "github.com"


def canonical_name(project: str) -> str:
    """``github.com/org/repo`` for ``org/repo``."""
    return f"{CANONICAL_HOST}/{project}"


def body_string(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    """A string field of a JSON body, or a JSON 400; ``""`` and ``null`` count as unset
    (zuul-client sends both), which is None when not ``required``."""
    value = body.get(key)
    if (value is None or value == "") and not required:
        return None
    if not isinstance(value, str) or not value:
        raise JSONHTTPError(400, "bad_request", f"'{key}' must be a non-empty string.")
    return value


def get_tenant(view: SchedulerView, request: web.Request) -> Any:
    """The tenant named in the path, or a JSON 404."""
    name = request.match_info["tenant"]
    tenant = view.tenant(name)
    if tenant is None:
        raise JSONHTTPError(404, "not_found", f"Tenant '{name}' does not exist.")
    return tenant


def find_project(tenant: Any, name: str) -> Any | None:
    """A project of ``tenant`` by short (``org/repo``) or canonical name, or None."""
    project = tenant.projects.get(name)
    if project is None and name.count("/") >= 2:
        project = tenant.projects.get(name.split("/", 1)[1])
    return project


def get_project(tenant: Any, name: str) -> Any:
    """A project of ``tenant`` (short or canonical name), or a JSON 404."""
    project = find_project(tenant, name)
    if project is None:
        raise JSONHTTPError(404, "not_found",
                            f"Project '{name}' does not exist in tenant '{tenant.name}'.")
    return project


def get_pipeline(tenant: Any, name: Any) -> str:
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
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise JSONHTTPError(400, "bad_request", f"'{key}' must be a non-negative integer.")
    return min(int(raw), maximum)


def bool_query(request: web.Request, key: str) -> bool | None:
    """A boolean query parameter (``1/0``, ``true/false``), None when absent, else 400."""
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise JSONHTTPError(400, "bad_request", f"'{key}' must be true or false.")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a JSON 400."""
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise JSONHTTPError(400, "bad_request", "The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise JSONHTTPError(400, "bad_request", "The body must be a JSON object.")
    return body
