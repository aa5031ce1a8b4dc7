"""Fixtures for streamer tests: a real ``zuul-log-streamer`` on a log root, fake build dirs.

The streamer's only input is the filesystem contract (``<log_root>/<uuid>/console.log`` and
``build.json``), so :class:`BuildDir` writes those files exactly as the executor does; the
end-to-end tests in ``test_e2e.py`` drive the real executor instead.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness.servers import HTTPService
from tests.harness.stack import Stack
from zuul.executor.console import RUNNING_JSON, timestamp, write_build_json, write_json

TENANT = "example"


class BuildDir:
    """A build's log dir written like the executor writes it."""

    def __init__(self, log_root: Path, uuid: str | None = None, tenant: str = TENANT) -> None:
        self.uuid = uuid or uuidlib.uuid4().hex
        self.tenant = tenant
        self.path = log_root / self.uuid
        self.path.mkdir(mode=0o755)
        write_json(self.path, RUNNING_JSON, {"uuid": self.uuid, "tenant": tenant,
                                             "job": "test", "start_time": time.time()})
        self.console = self.path / "console.log"
        self.console.touch(mode=0o644)

    def write(self, *lines: str) -> str:
        """Append timestamped lines; return the text written."""
        text = "".join(f"{timestamp()} | {line}\n" for line in lines)
        with open(self.console, "a", encoding="utf-8") as out:
            out.write(text)
        return text

    def end(self, result: str = "SUCCESS") -> None:
        now = time.time()
        write_build_json(self.path, {"uuid": self.uuid, "tenant": self.tenant,
                                     "result": result, "start_time": now, "end_time": now})


@pytest.fixture
def log_root(workdir: Path) -> Path:
    path = workdir / "logs"
    path.mkdir(mode=0o755)
    return path


def start_streamer(stack: Stack, log_root: Path, **config: Any) -> HTTPService:
    """``zuul-log-streamer`` serving ``log_root``."""
    return stack.service("zuul-log-streamer", "zuul-log-streamer",
                         {"log_root": str(log_root), **config})


@pytest.fixture
def streamer(stack: Stack, log_root: Path) -> HTTPService:
    return start_streamer(stack, log_root, heartbeat=5)


def ws_url(base: str, tenant: str = TENANT) -> str:
    """The console-stream websocket URL under an HTTP base URL."""
    return base.replace("http://", "ws://", 1) + f"/api/tenant/{tenant}/console-stream"


async def read_stream(ws: aiohttp.ClientWebSocketResponse, timeout: float = 30
                      ) -> tuple[str, int | None, str]:
    """Read text until the server closes; return (text, close code, close reason)."""
    parts, reason = [], ""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                parts.append(msg.data)
            elif msg.type == aiohttp.WSMsgType.CLOSE:
                reason = msg.extra or ""
                break
            elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                              aiohttp.WSMsgType.ERROR):
                break
    return "".join(parts), ws.close_code, reason


async def stream_once(url: str, message: Any, timeout: float = 30
                      ) -> tuple[str, int | None, str]:
    """Connect, send ``message`` (JSON-encoded unless str/bytes) and read to the close."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, autoclose=True) as ws:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message if isinstance(message, str) else json.dumps(message))
            return await read_stream(ws, timeout)
