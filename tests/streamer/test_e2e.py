"""End to end through a real Apache: a real playbook's console, live, over mod_proxy_wstunnel."""
from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import pytest

from tests.executor.helpers import build_request
from tests.harness.http import get
from tests.harness.ports import free_port
from tests.harness.process import wait_until
from tests.harness.stack import Stack
from tests.streamer.conftest import BuildDir, read_stream, start_streamer, stream_once
from zuul.executor import Executor


def front(stack: Stack, streamer_port: int, log_root: Path, **timeouts: int):
    """Apache routing /zuul/api/tenant/<t>/console-stream to the streamer."""
    zuul = {"scheduler": f"127.0.0.1:{free_port()}", "streamer": f"127.0.0.1:{streamer_port}",
            "log_root": str(log_root)}
    return stack.apache(zuul=zuul, timeouts=timeouts) if timeouts else stack.apache(zuul=zuul)


def public_ws(apache_url: str) -> str:
    return apache_url.replace("http://", "ws://") + "/zuul/api/tenant/example/console-stream"


@pytest.mark.slow
async def test_live_build_through_apache(stack: Stack, log_root: Path, workdir: Path) -> None:
    streamer = start_streamer(stack, log_root)
    apache = front(stack, streamer.port, log_root)
    executor = Executor(log_root=log_root, work_root=workdir / "work")
    request = build_request("lines.yaml", line_count=10)
    build = asyncio.create_task(executor.run(request))
    console = log_root / request.uuid / "console.log"
    await wait_until(console.exists, 30, "the build's console log")

    received: list[tuple[float, str]] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(public_ws(apache.url)) as ws:
            await ws.send_json({"uuid": request.uuid, "logfile": "console.log"})
            async with asyncio.timeout(60):
                while (msg := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
                    received.append((time.time(), msg.data))
            code = ws.close_code
    result = await build

    assert result.result == "SUCCESS"
    assert code == 1000
    text = "".join(chunk for _, chunk in received)
    assert text == console.read_text()
    line_times = [(when, int(m.group(1))) for when, chunk in received
                  for m in re.finditer(r"\| line-(\d+)\n", chunk)]
    assert [n for _, n in line_times] == list(range(10))
    assert all(when < result.end_time for when, _ in line_times), "lines arrived after the end"

    # Once finished, the stream replays the whole log, and Apache serves the files.
    replay, replay_code, _ = await stream_once(
        public_ws(apache.url), {"uuid": request.uuid, "logfile": "console.log"})
    assert (replay, replay_code) == (console.read_text(), 1000)
    static = get(f"{apache.url}/zuul/logs/{request.uuid}/console.log")
    assert static.status == 200 and static.text == console.read_text()
    record = get(f"{apache.url}/zuul/logs/{request.uuid}/build.json").json()
    assert record["result"] == "SUCCESS" and record["uuid"] == request.uuid


async def test_refusals_through_apache(stack: Stack, log_root: Path) -> None:
    streamer = start_streamer(stack, log_root)
    apache = front(stack, streamer.port, log_root)
    BuildDir(log_root, uuid="KNOWN").write("x")
    cases = [("{not json", 4000, "request is not JSON"),
             ({"uuid": "KNOWN", "logfile": "../../etc/passwd"}, 4000,
              "logfile must be a plain file name"),
             ({"uuid": "KNOWN"}, 4000, "missing key: logfile"),
             ({"uuid": "nosuchbuild", "logfile": "console.log"}, 4011,
              "unknown build nosuchbuild")]
    for message, code, reason in cases:
        assert await stream_once(public_ws(apache.url), message) == ("", code, reason)


@pytest.mark.slow
async def test_heartbeats_keep_idle_stream_open_through_apache(stack: Stack,
                                                               log_root: Path) -> None:
    """Apache's tunnel idle timeout is 2 s here; heartbeats every 0.5 s keep the stream up."""
    pinging = start_streamer(stack, log_root, heartbeat=0.5)
    silent = start_streamer(stack, log_root, heartbeat=60)
    pinging_front = front(stack, pinging.port, log_root, websocket_idle=2, proxy=2, client=2)
    silent_front = front(stack, silent.port, log_root, websocket_idle=2, proxy=2, client=2)
    build = BuildDir(log_root)
    first = build.write("before the quiet part")
    request = {"uuid": build.uuid, "logfile": "console.log"}

    async with aiohttp.ClientSession() as session:
        streams = []
        for apache in (pinging_front, silent_front):
            ws = await session.ws_connect(public_ws(apache.url))
            await ws.send_json(request)
            assert await asyncio.wait_for(ws.receive_str(), 10) == first
            streams.append(ws)
        kept, closed = await asyncio.gather(*(next_message_within(ws, 5) for ws in streams))
        assert closed is not None and closed.type in (
            aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR), \
            "Apache kept a tunnel without heartbeats open: this test would prove nothing"
        assert kept is None, f"the stream with heartbeats ended while idle: {kept}"

        later = build.write("after five quiet seconds")
        assert await asyncio.wait_for(streams[0].receive_str(), 10) == later
        build.end()
        rest, code, _ = await read_stream(streams[0])
        assert (rest, code) == ("", 1000)


async def next_message_within(ws: aiohttp.ClientWebSocketResponse, seconds: float
                              ) -> aiohttp.WSMessage | None:
    """The next message (data or close) within ``seconds``; None if the stream stayed idle."""
    try:
        return await asyncio.wait_for(ws.receive(), seconds)
    except TimeoutError:
        return None


async def test_two_streamers_behind_the_balancer(stack: Stack, log_root: Path) -> None:
    """Any streamer can serve any build: they share the log root, Apache spreads viewers."""
    streamers = [start_streamer(stack, log_root) for _ in range(2)]
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{free_port()}",
                                "streamer": [f"127.0.0.1:{s.port}" for s in streamers],
                                "log_root": str(log_root)})
    build = BuildDir(log_root)
    first = build.write("seen by every viewer")
    request = {"uuid": build.uuid, "logfile": "console.log"}
    async with aiohttp.ClientSession() as session:
        sockets = []
        for _ in range(4):
            ws = await session.ws_connect(public_ws(apache.url))
            await ws.send_json(request)
            assert await asyncio.wait_for(ws.receive_str(), 10) == first
            sockets.append(ws)
        viewers = [get(s.url + "/metrics").text for s in streamers]
        assert all(re.search(r"^zuul_streamer_viewers [1-9]", text, re.M) for text in viewers)
        build.end()
        results = await asyncio.gather(*(read_stream(ws) for ws in sockets))
    assert [(text, code) for text, code, _ in results] == [("", 1000)] * 4
