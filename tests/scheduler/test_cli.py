"""The ``zuul`` client against a real scheduler behind real Apache."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.harness.ports import free_port
from tests.harness.process import wait_for
from tests.harness.servers import console_script
from tests.harness.stack import Stack
from tests.scheduler.conftest import start_scheduler, tenant_file, token
from tests.scheduler.github_api import GitHubAPI


def zuul(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([console_script("zuul"), *args[:1], "--url", url,
                           "--tenant", "example", *args[1:]],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.slow
def test_client_commands(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    url = apache.url + "/zuul/"
    admin = token(["example"])

    empty = zuul(url, "status")
    assert empty.returncode == 0 and "No items queued." in empty.stdout

    denied = zuul(url, "enqueue", "--pipeline", "check", "--project", "org/slow",
                  "--change", "5," + "5" * 40)
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert denied.stderr.startswith("error: POST ") and "HTTP 401" in denied.stderr
    assert len(denied.stderr.strip().splitlines()) == 1

    done = zuul(url, "enqueue", "--pipeline", "check", "--project", "org/slow",
                "--change", "5," + "5" * 40, "--auth-token", admin)
    assert done.returncode == 0, done.stderr
    # status.json may be cached for its max-age (1 s) by the scheduler and by Apache.
    table = wait_for(lambda: (t := zuul(url, "status")).returncode == 0
                     and "org/slow" in t.stdout and t, 10, what="the item in zuul status")
    assert "PIPELINE" in table.stdout and "org/slow" in table.stdout and "check" in table.stdout
    doc = json.loads(zuul(url, "status", "--json").stdout)
    assert doc["pipelines"][0]["change_queues"][0]["heads"][0][0]["refs"][0]["id"].startswith("5,")

    wait_for(lambda: json.loads(zuul(url, "builds", "--change", "5", "--json").stdout), 30,
             what="build of change 5")
    builds = zuul(url, "builds", "--project", "org/slow")
    assert "slow" in builds.stdout and "SUCCESS" in builds.stdout

    hold = zuul(url, "autohold", "--project", "org/slow", "--job", "slow", "--reason", "why",
                "--auth-token", admin)
    assert hold.returncode == 0 and "Autohold request created." in hold.stdout
    listed = zuul(url, "autohold-list", "--auth-token", admin)
    assert "why" in listed.stdout and "0/1" in listed.stdout
    assert zuul(url, "autohold-delete", "1", "--auth-token", admin).returncode == 0
    gone = zuul(url, "autohold-delete", "1", "--auth-token", admin)
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr

    labels = zuul(url, "labels")
    assert labels.returncode == 0 and "No labels." in labels.stdout

    direct = zuul(scheduler.url, "status", "--json")
    assert direct.returncode == 0 and json.loads(direct.stdout)["pipelines"]
    nowhere = zuul(f"http://127.0.0.1:{free_port()}/", "status")
    assert nowhere.returncode == 1 and "cannot connect" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
