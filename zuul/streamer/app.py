"""The streamer's aiohttp app: ``/api/tenant/{tenant}/console-stream`` plus health/metrics."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import prometheus_client
from aiohttp import WSMsgType, web

from zuul.executor.console import BUILD_JSON
from zuul.lib.client_limit import limit_per_client
from zuul.lib.web import add_health_routes, make_app
from zuul.streamer.follower import (
    CLOSE_OK,
    CLOSE_STREAM_ERROR,
    READ_SIZE,
    FollowerRegistry,
    Viewer,
)
from zuul.streamer.request import BadRequest, parse_request

log = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4000
CLOSE_TIMEOUT = 2.0
MAX_REQUEST_SIZE = 4096

VIEWERS = prometheus_client.Gauge("zuul_streamer_viewers", "Connected console viewers")
FOLLOWERS = prometheus_client.Gauge("zuul_streamer_followers", "Running builds being followed")
CLOSES = prometheus_client.Counter("zuul_streamer_closes_total",
                                   "Console streams ended, by close code", ["code"])

REGISTRY_KEY = web.AppKey("followers", FollowerRegistry)
CONFIG_KEY = web.AppKey("config", dict)


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


async def _replay(ws: web.WebSocketResponse, path: Path, end: int | None) -> None:
    """Send the file's bytes ``[0, end)`` (or all of it), in chunks cut at line ends."""
    with open(path, "rb") as log_file:
        pending = b""
        remaining = end
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
                await ws.send_str(pending[:cut].decode("utf-8", errors="replace"))
                pending = pending[cut:]
        if pending:
            await ws.send_str(pending.decode("utf-8", errors="replace"))


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client frames so pongs and the client's close are processed."""
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                        WSMsgType.ERROR):
            return


async def _follow(ws: web.WebSocketResponse, request: web.Request,
                  registry: FollowerRegistry, uuid: str, logfile: str,
                  limit: int) -> tuple[int, str] | None:
    """Stream a running build; return the close (code, reason), None if the client left."""
    pump_task: asyncio.Task[None] | None = None

    def cancel_pump() -> None:
        if pump_task is not None and pump_task is not asyncio.current_task():
            pump_task.cancel()

    viewer = Viewer(limit, on_drop=cancel_pump)
    follower, replay_until = registry.subscribe(uuid, logfile, viewer)
    FOLLOWERS.set(len(registry))

    async def pump() -> None:
        await _replay(ws, follower.path, replay_until)
        while (chunk := await viewer.next()) is not None:
            await ws.send_str(chunk)

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


async def console_stream(request: web.Request) -> web.StreamResponse:
    """The websocket endpoint: one JSON request message, then the log, then a close."""
    conf = request.app[CONFIG_KEY]
    registry = request.app[REGISTRY_KEY]
    ws = web.WebSocketResponse(heartbeat=conf["heartbeat"], max_msg_size=MAX_REQUEST_SIZE)
    await ws.prepare(request)
    VIEWERS.inc()
    try:
        try:
            msg = await ws.receive(timeout=conf["request_timeout"])
        except TimeoutError:
            return await _close(ws, request, CLOSE_BAD_REQUEST, "no request received")
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return ws
        if msg.type != WSMsgType.TEXT:
            return await _close(ws, request, CLOSE_BAD_REQUEST,
                                "expected a text message with a JSON request")
        try:
            stream = parse_request(msg.data)
        except BadRequest as exc:
            return await _close(ws, request, CLOSE_BAD_REQUEST, str(exc))
        build_dir = Path(conf["log_root"]) / stream.uuid
        if not build_dir.is_dir():
            return await _close(ws, request, CLOSE_STREAM_ERROR,
                                f"unknown build {stream.uuid}")
        path = build_dir / stream.logfile
        if not path.is_file():
            return await _close(ws, request, CLOSE_STREAM_ERROR,
                                f"no log file {stream.logfile} for build {stream.uuid}")
        try:
            if (build_dir / BUILD_JSON).exists():
                await _replay(ws, path, None)
                return await _close(ws, request, CLOSE_OK, "build ended")
            ending = await _follow(ws, request, registry, stream.uuid, stream.logfile,
                                   conf["client_buffer"])
        except OSError as exc:
            log.warning("Cannot stream %s: %s", path, exc)
            return await _close(ws, request, CLOSE_STREAM_ERROR, "log file is gone")
        if ending is None:
            return ws
        return await _close(ws, request, *ending)
    except (ConnectionError, asyncio.CancelledError):
        return ws
    finally:
        VIEWERS.dec()


def build_app(conf: dict[str, Any]) -> web.Application:
    """The streamer's application for a validated configuration."""
    app = make_app()
    app[CONFIG_KEY] = conf
    app[REGISTRY_KEY] = FollowerRegistry(Path(conf["log_root"]), conf["poll_interval"])
    log_root = Path(conf["log_root"])

    async def ready() -> tuple[bool, str]:
        if log_root.is_dir():
            return True, "ok"
        return False, f"log_root {log_root} is not a directory"

    add_health_routes(app, ready)
    app.router.add_get("/api/tenant/{tenant}/console-stream",
                       limit_per_client(console_stream, conf["max_streams_per_client"]))
    return app
