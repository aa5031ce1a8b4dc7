"""The streamer's aiohttp app: ``/api/tenant/{tenant}/console-stream`` plus health/metrics.

The message contract (doc/internals.rst): the client sends one text message
``{"uuid": ..., "logfile": "console.log", "offset": N}`` (``offset`` optional, bytes); the
server sends the log from that byte on as text messages cut at line ends (UTF-8), live while
the build runs, then closes: 1000 ``build ended``; 4000 a malformed request; 4011 an unknown
build (also a build of another tenant, or a link where the build directory or log file
should be), no such log file, the log gone or the client too slow.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, BinaryIO

import prometheus_client
from aiohttp import WSMsgType, web

from zuul.lib.client_limit import limit_per_client
from zuul.lib.components import registration_ctx
from zuul.lib.web import add_health_routes, make_app
from zuul.streamer.files import BuildFiles, NotFound
from zuul.streamer.follower import (
    CLOSE_OK,
    CLOSE_STREAM_ERROR,
    READ_SIZE,
    FollowerRegistry,
    Viewer,
)
from zuul.streamer.request import BadRequest, StreamRequest, parse_request

log = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4000
CLOSE_TIMEOUT = 2.0
MAX_REQUEST_SIZE = 4096
# Frames up to this size are read and refused with 4000; larger ones get aiohttp's 1009.
MAX_FRAME_SIZE = 64 * 1024

VIEWERS = prometheus_client.Gauge("zuul_streamer_viewers", "Connected console viewers")
FOLLOWERS = prometheus_client.Gauge("zuul_streamer_followers", "Running builds being followed")
CLOSES = prometheus_client.Counter("zuul_streamer_closes_total",
                                   "Console streams ended, by close code", ["code"])

REGISTRY_KEY = web.AppKey("followers", FollowerRegistry)
CONFIG_KEY = web.AppKey("config", dict)


class Refused(Exception):
    """The stream cannot be served: close with ``code`` and the message as the reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


async def _close(ws: web.WebSocketResponse, request: web.Request, code: int,
                 reason: str) -> web.WebSocketResponse:
    """Close with ``code``; give up on a client that does not read (abort the socket)."""
    CLOSES.labels(str(code)).inc()
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason.encode()[:120]),
                               CLOSE_TIMEOUT)
    except (TimeoutError, ConnectionError):
        if request.transport is not None:
            request.transport.abort()
    return ws


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def _replay(ws: web.WebSocketResponse, log_file: BinaryIO, start: int,
                  end: int | None) -> None:
    """Send the file's bytes ``[start, end)`` (or to its end), in chunks cut at line ends."""
    await asyncio.to_thread(log_file.seek, start)
    pending = b""
    remaining = None if end is None else max(0, end - start)
    while remaining is None or remaining > 0:
        size = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
        data = await asyncio.to_thread(log_file.read, size)
        if not data:
            break
        if remaining is not None:
            remaining -= len(data)
        pending += data
        cut = pending.rfind(b"\n") + 1
        if cut:
            await ws.send_str(_decode(pending[:cut]))
            pending = pending[cut:]
    if pending:
        await ws.send_str(_decode(pending))


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client frames so pongs and the client's close are processed."""
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                        WSMsgType.ERROR):
            return


async def _follow(ws: web.WebSocketResponse, registry: FollowerRegistry,
                  stream: StreamRequest, log_file: BinaryIO,
                  limit: int) -> tuple[int, str] | None:
    """Stream a running build; return the close (code, reason), None if the client left."""
    pump_task: asyncio.Task[None] | None = None

    def cancel_pump() -> None:
        if pump_task is not None and pump_task is not asyncio.current_task():
            pump_task.cancel()

    viewer = Viewer(limit, stream.offset, on_drop=cancel_pump)
    follower, replay_until = registry.subscribe(stream.uuid, stream.logfile, viewer)
    FOLLOWERS.set(len(registry))

    async def pump() -> None:
        if stream.offset < replay_until:
            await _replay(ws, log_file, stream.offset, replay_until)
        while (chunk := await viewer.next()) is not None:
            await ws.send_str(_decode(chunk))

    pump_task = asyncio.create_task(pump())
    reader = asyncio.create_task(_drain_incoming(ws))
    try:
        await asyncio.wait({pump_task, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        follower.remove(viewer)
        FOLLOWERS.set(len(registry))
        for task in (pump_task, reader):
            task.cancel()
        for task in (pump_task, reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if reader.done() and viewer.close is None:
        return None  # the client went away
    if pump_task.done() and not pump_task.cancelled() and pump_task.exception() is not None:
        return CLOSE_STREAM_ERROR, "error reading the log"
    return viewer.close or (CLOSE_STREAM_ERROR, "stream interrupted")


def _open(log_root: Path, tenant: str, stream: StreamRequest
          ) -> tuple[BuildFiles, BinaryIO, bool]:
    """In a thread: the build (of ``tenant``), its open log file and whether it ended."""
    try:
        build = BuildFiles(log_root, stream.uuid)
    except NotFound as exc:
        raise Refused(CLOSE_STREAM_ERROR, str(exc)) from None
    try:
        if build.tenant() != tenant:
            # Said exactly like a missing build: other tenants' builds are not disclosed.
            raise Refused(CLOSE_STREAM_ERROR, f"unknown build {stream.uuid}")
        ended = build.ended()
        try:
            log_file = build.open(stream.logfile)
        except NotFound as exc:
            raise Refused(CLOSE_STREAM_ERROR, str(exc)) from None
        return build, log_file, ended
    except BaseException:
        build.close()
        raise


async def _receive_request(ws: web.WebSocketResponse, timeout: float) -> StreamRequest | None:
    """The client's request; None if it left first. Raises :class:`Refused` (4000)."""
    try:
        msg = await ws.receive(timeout=timeout)
    except TimeoutError:
        raise Refused(CLOSE_BAD_REQUEST, "no request received") from None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None
    if msg.type != WSMsgType.TEXT:
        raise Refused(CLOSE_BAD_REQUEST, "expected a text message with a JSON request")
    if len(msg.data) > MAX_REQUEST_SIZE:
        raise Refused(CLOSE_BAD_REQUEST, f"request longer than {MAX_REQUEST_SIZE} bytes")
    try:
        return parse_request(msg.data)
    except BadRequest as exc:
        raise Refused(CLOSE_BAD_REQUEST, str(exc)) from None


async def console_stream(request: web.Request) -> web.StreamResponse:
    """The websocket endpoint: one JSON request message, then the log, then a close."""
    conf = request.app[CONFIG_KEY]
    registry = request.app[REGISTRY_KEY]
    tenant = request.match_info["tenant"]
    ws = web.WebSocketResponse(heartbeat=conf["heartbeat"], max_msg_size=MAX_FRAME_SIZE)
    await ws.prepare(request)
    VIEWERS.inc()
    build: BuildFiles | None = None
    log_file: BinaryIO | None = None
    try:
        stream = await _receive_request(ws, conf["request_timeout"])
        if stream is None:
            return ws
        build, opened, ended = await asyncio.to_thread(
            _open, registry.log_root, tenant, stream)
        log_file = opened
        try:
            if ended:
                await _replay(ws, opened, stream.offset, None)
                return await _close(ws, request, CLOSE_OK, "build ended")
            ending = await _follow(ws, registry, stream, opened, conf["client_buffer"])
        except OSError as exc:
            log.warning("Cannot stream build %s %s: %s", stream.uuid, stream.logfile, exc)
            return await _close(ws, request, CLOSE_STREAM_ERROR, "log file is gone")
        if ending is None:
            return ws
        return await _close(ws, request, *ending)
    except Refused as exc:
        return await _close(ws, request, exc.code, str(exc))
    except (ConnectionError, asyncio.CancelledError):
        return ws
    finally:
        VIEWERS.dec()
        if log_file is not None:
            log_file.close()
        if build is not None:
            build.close()


def build_app(conf: dict[str, Any]) -> web.Application:
    """The streamer's application for a validated configuration."""
    app = make_app()
    app[CONFIG_KEY] = conf
    log_root = Path(conf["log_root"]).resolve()
    registry = FollowerRegistry(log_root, conf["poll_interval"])
    app[REGISTRY_KEY] = registry

    async def close_registry(_app: web.Application) -> None:
        await registry.close()

    app.on_cleanup.append(close_registry)
    app.cleanup_ctx.append(registration_ctx(conf.get("zookeeper"), "streamer"))

    async def ready() -> tuple[bool, str]:
        if await asyncio.to_thread(log_root.is_dir):
            return True, "ok"
        return False, f"log_root {log_root} is not a directory"

    add_health_routes(app, ready)
    app.router.add_get("/api/tenant/{tenant}/console-stream",
                       limit_per_client(console_stream, conf["max_streams_per_client"]))
    return app
