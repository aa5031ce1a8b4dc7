"""A small synchronous HTTP client for tests (stdlib urllib), never raising on 4xx/5xx."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(method: str, url: str, body: bytes | dict | list | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
    """Send one request; JSON-encode dict/list bodies; return status, headers and body."""
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Response(err.code, err.headers, err.read())


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
    return request("GET", url, headers=headers, timeout=timeout)


def status_of(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET ``url``, or None when nothing answers."""
    try:
        return get(url, timeout=timeout).status
    except (OSError, urllib.error.URLError):
        return None
