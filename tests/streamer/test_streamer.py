"""The log streamer on its own port: protocol, close codes, sharing, slow clients."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.harness.http import get
from tests.harness.servers import console_script
from tests.harness.stack import Stack
from tests.streamer.conftest import BuildDir, read_stream, start_streamer, stream_once, ws_url


def metric(base_url: str, name: str) -> float:
    """One sample of the streamer's Prometheus metrics (0 when absent)."""
    pattern = re.compile(rf"^{re.escape(name)} ([0-9.e+-]+)$", re.M)
    found = pattern.search(get(base_url + "/metrics").text)
    return float(found.group(1)) if found else 0.0


async def wait_metric(base_url: str, name: str, value: float, timeout: float = 10) -> None:
    """Poll the metric until it equals ``value``."""
    async with asyncio.timeout(timeout):
        while await asyncio.to_thread(metric, base_url, name) != value:
            await asyncio.sleep(0.05)


async def test_running_build_streams_live_then_closes_1000(streamer, log_root: Path) -> None:
    build = BuildDir(log_root)
    expected = build.write("first line", "second line")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(streamer.url)) as ws:
            await ws.send_json({"uuid": build.uuid, "logfile": "console.log"})
            received = ""
            for i in range(5):
                async with asyncio.timeout(10):
                    while received != expected:
                        received += await ws.receive_str()
                expected += build.write(f"live line {i}")
            build.write("last line")
            build.end()
            rest, code, reason = await read_stream(ws)
    assert received + rest == build.console.read_text()
    assert code == 1000 and reason == "build ended"


async def test_finished_build_replays_whole_log(streamer, log_root: Path) -> None:
    build = BuildDir(log_root)
    build.write(*(f"line {i} " + "x" * 200 for i in range(2000)))  # > one read chunk
    build.end()
    text, code, _ = await stream_once(ws_url(streamer.url),
                                      {"uuid": build.uuid, "logfile": "console.log"})
    assert text == build.console.read_text()
    assert code == 1000


@pytest.mark.parametrize(("message", "code", "reason"), [
    ("not json", 4000, "request is not JSON"),
    ("[1, 2]", 4000, "request must be a JSON object"),
    ({"logfile": "console.log"}, 4000, "missing key: uuid"),
    ({"uuid": "KNOWN"}, 4000, "missing key: logfile"),
    ({"uuid": 5, "logfile": "console.log"}, 4000, "uuid must be a string"),
    ({"uuid": "KNOWN", "logfile": "../build.json"}, 4000, "logfile must be a plain file name"),
    ({"uuid": "KNOWN", "logfile": "/etc/passwd"}, 4000, "logfile must be a plain file name"),
    ({"uuid": "KNOWN", "logfile": ".."}, 4000, "logfile must be a plain file name"),
    ({"uuid": "..", "logfile": "console.log"}, 4000, "uuid is not a build id"),
    ({"uuid": "../KNOWN", "logfile": "console.log"}, 4000, "uuid is not a build id"),
    (b"\x00binary", 4000, "expected a text message with a JSON request"),
    ({"uuid": "deadbeef", "logfile": "console.log"}, 4011, "unknown build deadbeef"),
    ({"uuid": "KNOWN", "logfile": "other.log"}, 4011, "no log file other.log for build KNOWN"),
])
async def test_bad_requests_refused(streamer, log_root: Path, message, code: int,
                                    reason: str) -> None:
    build = BuildDir(log_root, uuid="KNOWN")
    build.write("secret-free line")
    text, got_code, got_reason = await stream_once(ws_url(streamer.url), message)
    assert (got_code, got_reason) == (code, reason)
    assert text == ""


async def test_many_viewers_share_one_follower(streamer, log_root: Path) -> None:
    build = BuildDir(log_root)
    build.write("before anyone watched")
    request = {"uuid": build.uuid, "logfile": "console.log"}
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(ws_url(streamer.url)) for _ in range(20)]
        for ws in sockets:
            await ws.send_json(request)
        await wait_metric(streamer.url, "zuul_streamer_viewers", 20)
        assert metric(streamer.url, "zuul_streamer_followers") == 1
        build.write("while all watched")
        build.end()
        results = await asyncio.gather(*(read_stream(ws) for ws in sockets))
        for ws in sockets:
            await ws.close()
    assert {(text, code) for text, code, _ in results} == {(build.console.read_text(), 1000)}
    await wait_metric(streamer.url, "zuul_streamer_followers", 0)


async def test_viewer_leaving_stops_the_follower(streamer, log_root: Path) -> None:
    build = BuildDir(log_root)
    first = build.write("only line so far")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(streamer.url)) as ws:
            await ws.send_json({"uuid": build.uuid, "logfile": "console.log"})
            assert await asyncio.wait_for(ws.receive_str(), 10) == first
            assert metric(streamer.url, "zuul_streamer_followers") == 1
    await wait_metric(streamer.url, "zuul_streamer_viewers", 0)
    await wait_metric(streamer.url, "zuul_streamer_followers", 0)


async def test_client_that_never_reads_is_dropped(stack: Stack, log_root: Path) -> None:
    streamer = start_streamer(stack, log_root, client_buffer=64 * 1024)
    build = BuildDir(log_root)
    request = {"uuid": build.uuid, "logfile": "console.log"}
    async with aiohttp.ClientSession() as session:
        stalled = await session.ws_connect(ws_url(streamer.url), max_msg_size=0)
        await stalled.send_json(request)
        await wait_metric(streamer.url, "zuul_streamer_viewers", 1)
        dropped_before = metric(streamer.url, 'zuul_streamer_closes_total{code="4011"}')
        chunk = "y" * 1000
        for _ in range(100):  # up to 100 MB, far beyond every buffer on the way
            build.write(*([chunk] * 1000))
            if metric(streamer.url, "zuul_streamer_viewers") == 0:
                break
        await wait_metric(streamer.url, "zuul_streamer_viewers", 0)
        assert metric(streamer.url, 'zuul_streamer_closes_total{code="4011"}') \
            == dropped_before + 1
        # A well-behaved viewer of the same running build still gets the whole log.
        build.end()
        text, code, _ = await stream_once(ws_url(streamer.url), request, timeout=60)
        assert code == 1000 and len(text) == build.console.stat().st_size
        await stalled.close()


def test_config_errors_are_one_line(workdir: Path) -> None:
    config = workdir / "streamer.yaml"
    config.write_text(json.dumps({"log_root": str(workdir), "heartbeat": "often"}))
    result = subprocess.run([console_script("zuul-log-streamer"), "-c", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {config}: heartbeat: expected a positive number"
    config.write_text("{}")
    result = subprocess.run([console_script("zuul-log-streamer"), "-c", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "log_root" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_health_and_metrics(streamer) -> None:
    assert get(streamer.url + "/health/live").json() == {"status": "live"}
    assert get(streamer.url + "/health/ready").json() == {"status": "ready"}
    assert "zuul_streamer_viewers" in get(streamer.url + "/metrics").text
