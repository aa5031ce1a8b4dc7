"""``zuul webhook-send``: POST a correctly signed GitHub event from a payload file.

For admins checking a deployment (and for the tests)::

    zuul webhook-send --secret "$SECRET" https://zuul.example.com/zuul/webhook/github \\
        tests/fixtures/pull_request.json --event pull_request
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

import aiohttp

from zuul.webhook.verify import sign


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``webhook-send`` subcommand."""
    parser = subparsers.add_parser(
        "webhook-send", help="send a signed GitHub webhook event from a payload file",
        description="POST a payload file as a GitHub webhook delivery, signed with "
                    "X-Hub-Signature-256 (HMAC-SHA256 of the body with the secret).")
    parser.add_argument("url", help="the webhook URL, e.g. https://host/zuul/webhook/github")
    parser.add_argument("payload", help="JSON payload file (sent byte for byte)")
    parser.add_argument("--event", required=True, help="X-GitHub-Event, e.g. pull_request")
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--secret", help="the connection's webhook secret")
    secret.add_argument("--secret-file", help="read the secret from this file")
    parser.add_argument("--delivery", help="X-GitHub-Delivery (default: a new UUID)")
    parser.add_argument("--sha1", action="store_true",
                        help="also send the legacy X-Hub-Signature (SHA-1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.set_defaults(func=run)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SystemExit(f"error: cannot read {what} {path}: {exc.strerror}") from None


def signed_headers(secret: str, body: bytes, event: str, delivery: str,
                   sha1: bool = False) -> dict[str, str]:
    """The headers GitHub sends with a delivery of ``body``."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/zuul-webhook-send",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(secret, body, "sha256"),
    }
    if sha1:
        headers["X-Hub-Signature"] = sign(secret, body, "sha1")
    return headers


async def _post(url: str, body: bytes, headers: dict[str, str],
                timeout: float) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()


def run(args: argparse.Namespace) -> int:
    """Send the event; print the status and the answer; 0 on 2xx, else 1."""
    body = _read(args.payload, "payload")
    secret = args.secret if args.secret is not None else \
        _read(args.secret_file, "secret file").decode().strip()
    delivery = args.delivery or str(uuid.uuid4())
    headers = signed_headers(secret, body, args.event, delivery, args.sha1)
    try:
        status, text = asyncio.run(_post(args.url, body, headers, args.timeout))
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        print(f"error: cannot POST to {args.url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"{status} delivery={delivery} {text.strip()}")
    return 0 if 200 <= status < 300 else 1
