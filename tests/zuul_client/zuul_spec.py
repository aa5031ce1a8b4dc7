"""Zuul 14.3's published API description (``zuul/web/static/openapi.yaml`` of the ``zuul``
14.3.0 wheel, copied to ``tests/fixtures/zuul-14.3.0-openapi.yaml``) as a response validator.

Zuul generates that file from its code, and it types every leaf as a string even where Zuul's
own server sends numbers, booleans or null (``duration``, ``voting``, ``_id``, ``held``...: see
``BuildConverter.toDict`` against ``BuildConverter.schema`` in ``zuul/web/__init__.py``). Zuul
itself would fail a strict check, so leaves here accept any scalar; objects, arrays and
property shapes are checked as published. Paths it does not document a response for
("Response not yet documented") are checked against our own ``zuul/openapi.yaml``, whose
schemas were written from Zuul's source.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.harness.http import Response

ROOT = Path(__file__).resolve().parents[2]
ZUUL_SPEC_FILE = ROOT / "tests/fixtures/zuul-14.3.0-openapi.yaml"
OUR_SPEC_FILE = ROOT / "zuul/openapi.yaml"
SCALARS = ("string", "integer", "number", "boolean")


def _relax(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("type") in SCALARS and "properties" not in node:
            return {k: v for k, v in node.items() if k not in ("type", "format")} | {
                "nullable": True}
        if node.get("type") in ("object", "array"):
            node = {**node, "nullable": True}
        return {k: _relax(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_relax(v) for v in node]
    return node


def _str_keys(node: Any) -> Any:
    """YAML reads ``200:`` as an int; OpenAPI wants status codes as strings."""
    if isinstance(node, dict):
        return {str(k): _str_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_str_keys(v) for v in node]
    return node


def _zuul_spec() -> tuple[OpenAPI, dict[str, Any]]:
    raw = _str_keys(yaml.safe_load(ZUUL_SPEC_FILE.read_text()))
    relaxed = copy.deepcopy(raw)
    for methods in relaxed["paths"].values():
        for operation in methods.values():
            for response in operation.get("responses", {}).values():
                if "content" in response:
                    response["content"] = _relax(response["content"])
            # Query parameters are typed string there; our clients send what they send.
            for param in operation.get("parameters", []):
                param["schema"] = {"type": "string"}
    relaxed.setdefault("servers", [{"url": "/"}])
    return OpenAPI.from_dict(relaxed), raw


ZUUL, ZUUL_RAW = _zuul_spec()
OURS = OpenAPI.from_file_path(str(OUR_SPEC_FILE))


def zuul_pattern(ours: str) -> str:
    """Our path pattern (``{tenant}``) as Zuul's (``{tenant_name}``, ``{project_name}``)."""
    return (ours.replace("{tenant}", "{tenant_name}").replace("{project}", "{project_name}")
            .replace("/job/{name}", "/job/{job_name}").replace("{id}", "{request_id}")
            .replace("freeze-job/{job}", "freeze-job/{job_name}")
            .replace("pipeline/{pipeline}", "pipeline/{pipeline_name}")
            .replace("branch/{branch}", "branch/{branch_name}"))


def documented_by_zuul(pattern: str, method: str, status: int) -> bool:
    """True when Zuul's spec gives a response schema for this route and status."""
    path = ZUUL_RAW["paths"].get(zuul_pattern(pattern), {})
    response = path.get(method.lower(), {}).get("responses", {})
    entry = response.get(str(status)) or {}
    return "content" in entry


def zuul_path(ours: str) -> bool:
    """True when Zuul's spec has this path (in any form)."""
    return zuul_pattern(ours) in ZUUL_RAW["paths"]


def validate(method: str, url: str, pattern: str, response: Response, body: Any = None,
             headers: dict[str, str] | None = None, prefix: str = "/zuul") -> str:
    """Validate one real response; return which document checked it (``zuul``/``ours``)."""
    parts = urlsplit(url)
    path = parts.path.removeprefix(prefix)
    query = dict(parse_qsl(parts.query))
    content_type = response.headers.get("Content-Type", "application/json").split(";")[0]
    data = json.dumps(body).encode() if body is not None else None
    resp = MockResponse(response.body, response.status, dict(response.headers), content_type)
    checked = "ours"
    # Zuul's document types its one SVG answer (badge) as a JSON object: JSON only.
    if documented_by_zuul(pattern, method, response.status) and response.status < 300 \
            and content_type == "application/json":
        zreq = MockRequest("http://localhost", method.lower(), path,
                           path_pattern=zuul_pattern(pattern), args=query,
                           headers=headers or {}, data=data)
        ZUUL.validate_response(zreq, resp)
        checked = "zuul"
    req = MockRequest("http://localhost", method.lower(), path, path_pattern=pattern,
                      args=query, headers=headers or {}, data=data)
    OURS.validate_response(req, resp)
    return checked
