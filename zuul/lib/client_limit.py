"""A cap on concurrent long-lived requests (console streams) per client address.

Behind Apache every connection comes from the proxy; Apache appends the address it saw to
``X-Forwarded-For`` (``ProxyAddHeaders On``), so the last entry of that header is the client.
Without the header (a direct connection) the peer address is used. Only the last entry is
trusted: earlier ones are whatever the client sent.
"""
from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Close(enum.IntEnum):
    """Websocket close codes of this module."""

    #: Refused: this client already has its maximum of concurrent streams open.
    TOO_MANY_STREAMS = 4429


def client_address(request: web.Request) -> str:
    """The client's address: the last ``X-Forwarded-For`` entry, else the peer's."""
    forwarded = request.headers.getall("X-Forwarded-For", [])
    if forwarded:
        last = forwarded[-1].split(",")[-1].strip()
        if last:
            return last
    return request.remote or "unknown"


def limit_per_client(handler: Handler, limit: int) -> Handler:
    """Wrap a websocket ``handler`` so each client address has at most ``limit`` running.

    A request over the limit is upgraded and closed at once with
    :attr:`Close.TOO_MANY_STREAMS` and a reason saying so, which a browser's ``WebSocket``
    shows as the close event's ``code`` and ``reason``. The table holds only addresses
    with a stream open.
    """
    open_streams: dict[str, int] = {}

    @functools.wraps(handler)
    async def limited(request: web.Request) -> web.StreamResponse:
        address = client_address(request)
        if open_streams.get(address, 0) >= limit:
            log.info("Refused a console stream from %s: %d already open", address, limit)
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.close(code=Close.TOO_MANY_STREAMS,
                           message=f"too many console streams from {address} "
                                   f"(limit {limit})".encode()[:120])
            return ws
        open_streams[address] = open_streams.get(address, 0) + 1
        try:
            return await handler(request)
        finally:
            if open_streams[address] <= 1:
                del open_streams[address]
            else:
                open_streams[address] -= 1

    return limited
