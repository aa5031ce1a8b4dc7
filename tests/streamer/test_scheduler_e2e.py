"""The whole path: a GitHub event -> an item in check -> a build on the executor -> its
console live through Apache; and a dequeue through Apache aborting a running build."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp
import pytest

from tests.executor.helpers import alive, read_pid
from tests.harness.http import get, request
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, bearer, items, pr_body, start_scheduler, status
from tests.scheduler.github_api import GitHubAPI
from tests.streamer.conftest import read_stream, start_streamer

CONFIG = Path(__file__).resolve().parent / "scheduler-config"


def running_uuid(scheduler_url: str, project: str) -> str | None:
    """The uuid of the first started job of ``project``'s item in check, once it started."""
    for item in items(status(scheduler_url), "check"):
        if item["project"] == project and item["jobs"][0]["start_time"]:
            return item["jobs"][0]["uuid"]
    return None


async def watch(ws_url: str, uuid: str) -> tuple[str, int | None, str]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url) as ws:
            await ws.send_str(json.dumps({"uuid": uuid, "logfile": "console.log"}))
            return await read_stream(ws, timeout=90)


@pytest.mark.slow
async def test_event_build_stream_and_dequeue(stack: Stack, workdir: Path) -> None:
    shutil.copytree(CONFIG, workdir / "config")
    log_root, work_root = workdir / "logs", workdir / "work"
    log_root.mkdir(mode=0o755)
    github = GitHubAPI().start()
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github, workdir / "config" / "tenant.yaml",
                                executor={"log_root": str(log_root),
                                          "work_root": str(work_root)})
    streamer = start_streamer(stack, log_root)
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                                "streamer": f"127.0.0.1:{streamer.port}",
                                "log_root": str(log_root)})
    ws_url = apache.url.replace("http", "ws", 1) + "/zuul/api/tenant/example/console-stream"
    api = apache.url + "/zuul/api/tenant/example"
    events = Events(geard)
    try:
        # An event enqueues an item; its job's console arrives live through Apache.
        assert events.send("pull_request", pr_body("org/live", 1, "a" * 40)) == "accepted"
        uuid = wait_for(lambda: running_uuid(scheduler.url, "org/live"), 30,
                        what="the live-lines build to start")
        await asyncio.to_thread(wait_for, (log_root / uuid / "console.log").exists, 30,
                                0.05, "its console log")
        text, code, reason = await watch(ws_url, uuid)
        assert (code, reason) == (1000, "build ended")
        assert text == (log_root / uuid / "console.log").read_text()
        printed = [line.rpartition(" | ")[2] for line in text.splitlines()
                   if " | line-" in line]
        assert printed == [f"line-{i}" for i in range(10)]
        assert "pipeline=check job=live-lines build=" + uuid in text
        record = wait_for(lambda: get(f"{api}/builds?change=1").json(), 20,
                          what="the build in the history")[0]
        assert record["uuid"] == uuid and record["result"] == "SUCCESS"
        assert record["log_url"].endswith(f"logs/{uuid}/")
        assert get(f"{apache.url}/zuul/logs/{uuid}/console.log").text == text

        # A dequeue through Apache aborts the running build and kills its processes.
        assert events.send("pull_request", pr_body("org/sleeper", 2, "b" * 40)) == "accepted"
        sleeper = wait_for(lambda: running_uuid(scheduler.url, "org/sleeper"), 30,
                           what="the sleeper build to start")
        pid = await asyncio.to_thread(wait_for, lambda: read_pid(work_root / sleeper /
                                                                 "sleep.pid"),
                                      30, 0.05, "the sleep task")
        stream = asyncio.create_task(watch(ws_url, sleeper))
        response = await asyncio.to_thread(
            request, "POST", f"{api}/project/org/sleeper/dequeue",
            {"pipeline": "check", "change": "2"}, bearer(["example"]))
        assert response.status == 200, response.text
        text, code, _ = await stream
        assert code == 1000 and "result ABORTED" in text
        await asyncio.to_thread(wait_for, lambda: not alive(pid), 10, 0.05,
                                f"sleep (PID {pid}) to be killed")
        canceled = wait_for(lambda: get(f"{api}/builds?change=2").json(), 20,
                            what="the aborted build in the history")[0]
        assert canceled["uuid"] == sleeper and canceled["result"] == "CANCELED"
        assert json.loads((log_root / sleeper / "build.json").read_text())["result"] \
            == "ABORTED"
    finally:
        events.close()
        github.stop()
