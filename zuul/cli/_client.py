"""A small synchronous client of the scheduler's API for the ``zuul`` command line.

Errors (HTTP errors with their JSON ``description``, unreachable hosts, non-JSON answers)
become :class:`ClientError` with a one-line message; the CLI prints it and exits 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_URL = "http://localhost/zuul/"


class ClientError(Exception):
    """A request failed; the message is one line for the user."""


def common_arguments(parser: argparse.ArgumentParser, tenant: bool = True) -> None:
    """``--url``, ``--tenant``, ``--auth-token``, ``--json`` and ``--timeout``."""
    parser.add_argument("--url", default=os.environ.get("ZUUL_URL", DEFAULT_URL),
                        help="Zuul's base URL, through Apache (https://host/zuul/) or the "
                             "scheduler port (http://host:9000/); env ZUUL_URL")
    if tenant:
        parser.add_argument("--tenant", default=os.environ.get("ZUUL_TENANT"),
                            required="ZUUL_TENANT" not in os.environ,
                            help="tenant name; env ZUUL_TENANT")
    parser.add_argument("--auth-token", default=os.environ.get("ZUUL_AUTH_TOKEN"),
                        help="bearer token (JWT) for admin actions; env ZUUL_AUTH_TOKEN")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")


def call(args: argparse.Namespace, method: str, path: str, body: Any = None,
         query: dict[str, Any] | None = None) -> Any:
    """Send one request to ``<url>/api/<path>``; return the decoded JSON (None if empty)."""
    base = args.url if args.url.endswith("/") else args.url + "/"
    url = urllib.parse.urljoin(base, "api/" + path.lstrip("/"))
    params = {k: v for k, v in (query or {}).items() if v is not None}
    if params:
        url += "?" + urllib.parse.urlencode(params)
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if getattr(args, "auth_token", None):
        headers["Authorization"] = f"Bearer {args.auth_token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as err:
        with err:
            raw = err.read()
        try:
            detail = json.loads(raw).get("description") or err.reason
        except (ValueError, AttributeError):
            detail = err.reason
        raise ClientError(f"{method} {url}: HTTP {err.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ClientError(f"{method} {url}: cannot connect: {reason}") from None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ClientError(f"{method} {url}: the answer is not JSON") from None


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain text table with aligned columns."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                            for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_command(func: Callable[[argparse.Namespace], Any],
                render: Callable[[Any], str]) -> Callable[[argparse.Namespace], int]:
    """Wrap ``func(args) -> data`` into a subcommand: JSON or a table, one-line errors."""

    def command(args: argparse.Namespace) -> int:
        try:
            data = func(args)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(data, indent=2) if args.json else render(data))
        return 0

    return command
