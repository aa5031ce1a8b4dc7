"""The streamer and Apache's log alias against hostile log roots and requests, via Apache.

Links out of the log root (a ``console.log`` pointing at ``/etc/passwd``, a build directory
pointing outside), builds of another tenant, and deeply nested requests are refused; the
``offset`` of a request resumes a stream exactly; new lines are pushed by change notices,
not found by polling.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp
import pytest

from tests.harness.http import get
from tests.harness.servers import ApacheServer, HTTPService
from tests.harness.stack import Stack
from tests.streamer.conftest import BuildDir, read_stream, start_streamer, stream_once, ws_url
from tests.streamer.test_e2e import front
from zuul.executor.console import RUNNING_JSON, write_json

SECRET = "outside-the-log-root-secret"


@pytest.fixture
def proxied(stack: Stack, log_root: Path) -> tuple[HTTPService, ApacheServer]:
    streamer = start_streamer(stack, log_root, heartbeat=5)
    return streamer, front(stack, streamer.port, log_root)


def public(apache: ApacheServer, tenant: str = "example") -> str:
    return ws_url(apache.url + "/zuul", tenant)


def outside_build(workdir: Path) -> Path:
    """A directory outside the log root that looks like a build, with a secret log."""
    outside = workdir / "outside"
    outside.mkdir(mode=0o755)
    (outside / "console.log").write_text(SECRET + "\n")
    os.chmod(outside / "console.log", 0o644)
    write_json(outside, RUNNING_JSON, {"uuid": "linked", "tenant": "example"})
    return outside


async def test_links_out_of_the_log_root_are_refused(
        proxied: tuple[HTTPService, ApacheServer], log_root: Path, workdir: Path) -> None:
    _streamer, apache = proxied
    # A build whose console.log is a link to /etc/passwd, one running and one ended.
    for name, ended in (("passwd-running", False), ("passwd-ended", True)):
        build = BuildDir(log_root, uuid=name)
        build.console.unlink()
        build.console.symlink_to("/etc/passwd")
        if ended:
            build.end()
    # A build directory that is a link to a directory outside the log root.
    (log_root / "linked").symlink_to(outside_build(workdir), target_is_directory=True)
    cases = {"passwd-running": "no log file console.log for build passwd-running",
             "passwd-ended": "no log file console.log for build passwd-ended",
             "linked": "unknown build linked"}
    for uuid, reason in cases.items():
        text, code, got = await stream_once(public(apache),
                                            {"uuid": uuid, "logfile": "console.log"})
        assert (code, got) == (4011, reason), (uuid, code, got)
        assert "root:" not in text and SECRET not in text and text == ""
        # Apache's alias for finished logs does not follow the links either.
        served = get(f"{apache.url}/zuul/logs/{uuid}/console.log")
        assert served.status in (403, 404), (uuid, served.status)
        assert "root:" not in served.text and SECRET not in served.text
    # Real files beside them are still served by both.
    good = BuildDir(log_root)
    line = good.write("a real line")
    good.end()
    text, code, _ = await stream_once(public(apache),
                                      {"uuid": good.uuid, "logfile": "console.log"})
    assert (text, code) == (line, 1000)
    assert get(f"{apache.url}/zuul/logs/{good.uuid}/console.log").text == line


async def test_a_build_streams_only_under_its_own_tenant(
        proxied: tuple[HTTPService, ApacheServer], log_root: Path) -> None:
    _streamer, apache = proxied
    running = BuildDir(log_root, tenant="other")
    ended = BuildDir(log_root, tenant="other")
    line = running.write("tenant other's line")
    ended.write("tenant other's ended line")
    ended.end()
    unrecorded = log_root / "no-record"
    unrecorded.mkdir(mode=0o755)
    (unrecorded / "console.log").write_text("no record of a tenant\n")
    for uuid in (running.uuid, ended.uuid, "no-record"):
        text, code, reason = await stream_once(public(apache, "example"),
                                               {"uuid": uuid, "logfile": "console.log"})
        assert (text, code, reason) == ("", 4011, f"unknown build {uuid}")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(public(apache, "other")) as ws:
            await ws.send_json({"uuid": running.uuid, "logfile": "console.log"})
            assert await asyncio.wait_for(ws.receive_str(), 10) == line
            running.end()
            rest, code, _ = await read_stream(ws)
    assert (rest, code) == ("", 1000)


@pytest.mark.parametrize("depth", [1_000, 2_040, 100_000])
async def test_deeply_nested_request_closes_4000(
        proxied: tuple[HTTPService, ApacheServer], depth: int) -> None:
    streamer, apache = proxied
    message = '{"uuid":' + "[" * depth + "]" * depth + "}"
    started = time.monotonic()
    text, code, reason = await stream_once(public(apache), message, timeout=10)
    assert text == ""
    if len(message) <= 4096:
        assert (code, reason) == (4000, "request is nested too deeply"), (code, reason)
    elif len(message) <= 64 * 1024:
        assert (code, reason) == (4000, "request longer than 4096 bytes"), (code, reason)
    else:  # larger than any request frame: the websocket standard's "message too big".
        # aiohttp sends its 1009 close and ends the connection while the rest of this
        # 200 KB frame may still be arriving; the kernel then resets the connection and
        # the close frame can be lost on the way (1006 here: seen once in a loaded CI run).
        # Either way it was refused at once, and the streamer is unharmed (below).
        assert code in (1009, 1006), (code, reason)
    assert time.monotonic() - started < 5
    assert streamer.running()
    assert "Traceback" not in streamer.log_path.read_text()


async def test_offset_resumes_a_stream(proxied: tuple[HTTPService, ApacheServer],
                                       log_root: Path) -> None:
    _streamer, apache = proxied
    build = BuildDir(log_root)
    build.write(*(f"before {i}" for i in range(50)))
    received = ""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(public(apache)) as ws:
            await ws.send_json({"uuid": build.uuid, "logfile": "console.log"})
            while len(received.encode()) < build.console.stat().st_size:
                received += await asyncio.wait_for(ws.receive_str(), 10)
    # Gone for a while: lines are written that this client did not see.
    build.write(*(f"while away {i}" for i in range(50)))
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(public(apache)) as ws:
            await ws.send_json({"uuid": build.uuid, "logfile": "console.log",
                                "offset": len(received.encode())})
            target = build.console.stat().st_size
            while len(received.encode()) < target:
                received += await asyncio.wait_for(ws.receive_str(), 10)
            build.write("live after the reconnect")
            build.end()
            rest, code, _ = await read_stream(ws)
    assert received + rest == build.console.read_text()
    assert code == 1000
    # An ended build from an offset; past the end, nothing and a normal close.
    whole = build.console.read_bytes()
    for offset in (0, 17, len(whole) - 5, len(whole), len(whole) + 100):
        text, code, _ = await stream_once(public(apache), {
            "uuid": build.uuid, "logfile": "console.log", "offset": offset})
        assert (text.encode(), code) == (whole[offset:], 1000), offset
    for bad in (-1, 1.5, "10", True, 2**60):
        text, code, reason = await stream_once(public(apache), {
            "uuid": build.uuid, "logfile": "console.log", "offset": bad})
        assert (code, reason) == (4000, "offset must be a byte count (an integer >= 0)")


async def test_new_lines_are_pushed_not_polled(stack: Stack, log_root: Path) -> None:
    # Polling only every 30 s: a line that arrives within a second was notified.
    streamer = start_streamer(stack, log_root, poll_interval=30)
    build = BuildDir(log_root)
    delays = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(streamer.url)) as ws:
            await ws.send_json({"uuid": build.uuid, "logfile": "console.log"})
            for i in range(20):
                await asyncio.sleep(0.01)
                started = time.monotonic()
                line = build.write(f"pushed {i}")
                assert await asyncio.wait_for(ws.receive_str(), 5) == line
                delays.append(time.monotonic() - started)
            build.end()
            _, code, _ = await read_stream(ws, timeout=5)
    assert code == 1000
    assert max(delays) < 1.0, delays
