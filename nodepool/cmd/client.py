"""``nodepool``: command-line client for the launcher's API.

``nodepool list|labels|requests`` print Nodepool's tables (``--json`` for JSON); ``nodepool
hold|delete NODE`` are admin actions with a bearer token (``--token`` or ``NODEPOOL_TOKEN``).
The API is found at ``--url`` or ``NODEPOOL_URL`` (default ``http://127.0.0.1:8005/``; behind
Apache use ``https://host/nodepool/``). Errors are one line on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

import nodepool
from zuul.lib.cli import run_subcommand

DEFAULT_URL = "http://127.0.0.1:8005/"
TIMEOUT = aiohttp.ClientTimeout(total=30)


class ClientError(Exception):
    """A one-line error to print."""


async def _call(method: str, url: str, params: dict[str, str], token: str | None,
                body: dict[str, Any] | None) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.request(
                method, url, params=params, headers=headers, json=body) as response:
            text = await response.text()
            if response.status >= 400:
                try:
                    detail = json.loads(text)["description"]
                except (ValueError, KeyError, TypeError):
                    detail = text.strip().splitlines()[0] if text.strip() else response.reason
                raise ClientError(f"{method} {url}: {response.status}: {detail}")
            return text, response.content_type
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ClientError(f"cannot reach {url}: {exc or type(exc).__name__}") from None


def request(args: argparse.Namespace, method: str, path: str,
            params: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> str:
    """Call the API at ``args.url`` + ``path`` and return the response body."""
    url = args.url.rstrip("/") + "/" + path.lstrip("/")
    text, _ = asyncio.run(_call(method, url, params or {}, args.token, body))
    return text


def _table(args: argparse.Namespace, path: str, extra: dict[str, str] | None = None) -> int:
    params = {"format": "json" if args.json else "text", **(extra or {})}
    if getattr(args, "fields", None):
        params["fields"] = args.fields
    text = request(args, "GET", path, params)
    if args.json:
        text = json.dumps(json.loads(text), indent=2) + "\n"
    sys.stdout.write(text)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    return _table(args, "node-list", {"node_id": args.node_id} if args.node_id else None)


def cmd_labels(args: argparse.Namespace) -> int:
    return _table(args, "label-list")


def cmd_requests(args: argparse.Namespace) -> int:
    return _table(args, "request-list")


def _admin(args: argparse.Namespace, action: str) -> int:
    if not args.token:
        raise ClientError(f"{action} needs an admin token (--token or NODEPOOL_TOKEN)")
    body = {"reason": args.reason} if args.reason else {}
    node = json.loads(request(args, "POST", f"api/node/{args.node_id}/{action}", body=body))
    if args.json:
        print(json.dumps(node, indent=2))
    else:
        print(f"node {node['node']['id']}: {node['node']['state']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="nodepool", description="Nodepool API client.")
    parser.add_argument("--version", action="version", version=f"nodepool {nodepool.__version__}")
    parser.add_argument("--url", default=os.environ.get("NODEPOOL_URL", DEFAULT_URL),
                        help="the launcher API (default: $NODEPOOL_URL or %(default)s)")
    parser.add_argument("--token", default=os.environ.get("NODEPOOL_TOKEN"),
                        help="bearer token for admin actions (default: $NODEPOOL_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = sub.add_parser("list", help="list nodes")
    listing.add_argument("--node-id", help="only this node")
    listing.add_argument("--fields", help="comma-separated columns (e.g. id,label,state)")
    listing.set_defaults(func=cmd_list)
    for name, func, what in (("labels", cmd_labels, "labels with node counts"),
                             ("requests", cmd_requests, "open node requests")):
        command = sub.add_parser(name, help=f"list {what}")
        command.add_argument("--fields", help="comma-separated columns")
        command.set_defaults(func=func)
    for action in ("hold", "delete"):
        command = sub.add_parser(action, help=f"{action} a node (admin)")
        command.add_argument("node_id")
        command.add_argument("--reason", help="comment stored on the node")
        command.set_defaults(func=lambda a, act=action: _admin(a, act))
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    run_subcommand(build_parser(), argv, handled=(ClientError,))
