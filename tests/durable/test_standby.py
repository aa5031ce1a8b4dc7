"""Two schedulers: the standby mirrors the active one's queues, forwards admin actions to
it, and takes over within 10 s of its kill -9 with builds running on an executor.
"""
from __future__ import annotations

import time
from typing import Any

from tests.durable.conftest import builds, executor, executor_running, item_ids, sha
from tests.harness.http import get, request
from tests.harness.process import wait_for
from tests.harness.servers import GearmanServer, HTTPService
from tests.harness.stack import Stack
from tests.scheduler.conftest import AUTH, Events, bearer, pr_body, tenant_file
from tests.scheduler.github_api import GitHubAPI


def _scheduler(stack: Stack, name: str, geard: GearmanServer, github: GitHubAPI,
               tenants: Any) -> HTTPService:
    conf = {"auth": AUTH, "tenant_config": str(tenants),
            "connections": {"github": {"api_url": github.url, "token": "gh-token"}},
            "gearman": geard.conf(), "zookeeper": stack.zookeeper_conf(),
            "state_dir": str(stack.workdir / f"state-{name}"),
            "database": {"url": f"sqlite:///{stack.workdir / 'zuul.db'}"},
            "executor": {"external": True}}
    return stack.service(f"zuul-scheduler-{name}", "zuul-scheduler", conf)


def _role(service: HTTPService) -> dict[str, Any]:
    try:
        return get(service.url + "/api/scheduler").json()
    except (OSError, ValueError):
        return {}


def test_standby_takes_over_within_10s(zk_stack: Stack, github_api: GitHubAPI) -> None:
    stack = zk_stack
    geard = stack.gearman()
    tenants = tenant_file(stack.workdir)
    exe = executor(stack, "e1", stack.workdir / "logs")
    first = _scheduler(stack, "a", geard, github_api, tenants)
    wait_for(lambda: _role(first).get("active"), 10, what="first scheduler active")
    second = _scheduler(stack, "b", geard, github_api, tenants)
    assert _role(second) == {"url": second.url, "active": False, "active_url": first.url}
    events = Events(geard)
    numbers = [51, 52]
    try:
        for number in numbers:
            assert events.send("pull_request", pr_body("org/slow", number, sha(number)),
                               delivery=f"delivery-{number}") == "accepted"
        expected = [f"{n},{sha(n)}" for n in numbers]
        # The standby serves the same queues, read from ZooKeeper.
        wait_for(lambda: item_ids(second.url, "check") == expected, 5, what="mirrored items")
        # An admin action sent to the standby reaches the active scheduler.
        enqueue = second.url + "/api/tenant/example/project/org/slow/enqueue"
        answer = request("POST", enqueue, body={"pipeline": "check",
                                                "change": f"53,{sha(53)}"},
                         headers=bearer(["example"]))
        assert answer.status == 200, answer.text
        numbers.append(53)
        expected.append(f"53,{sha(53)}")
        wait_for(lambda: item_ids(first.url, "check") == expected, 5,
                 what="forwarded enqueue on the active scheduler")
        wait_for(lambda: len(executor_running(exe)) == 3, 30, what="three builds running")
        running = set(executor_running(exe))

        first.kill()
        killed = time.monotonic()
        wait_for(lambda: _role(second).get("active"), 10, what="the standby taking over")
        took_over = time.monotonic() - killed
        assert took_over < 10, took_over
        assert item_ids(second.url, "check") == expected
        # The first scheduler's deliveries are duplicates here too (GitHub's "Redeliver").
        assert events.send("pull_request", pr_body("org/slow", 51, sha(51)),
                           delivery="delivery-51") == "duplicate"
        for number in numbers:
            wait_for(lambda n=number: ("zuul/check", "success") in github_api.statuses(
                sha(n)), 60, what=f"final status of PR {number}")
        for number in numbers:
            finals = [s for s in github_api.statuses(sha(number)) if s[1] != "pending"]
            assert finals == [("zuul/check", "success")], github_api.dump()
        rows = wait_for(lambda: len(r := [r for n in numbers
                                           for r in builds(second.url, change=str(n))])
                        >= len(running) and r, 10, what="the history rows")
        assert sorted(r["uuid"] for r in rows) == sorted(running)
        assert {r["result"] for r in rows} == {"SUCCESS"}
        # New events go to the new active scheduler.
        assert events.send("pull_request", pr_body("org/slow", 54, sha(54))) == "accepted"
        wait_for(lambda: ("zuul/check", "success") in github_api.statuses(sha(54)), 60,
                 what="PR 54 reported by the new active scheduler")
    finally:
        events.close()


def test_apache_balances_reads_over_both_schedulers(zk_stack: Stack,
                                                    github_api: GitHubAPI) -> None:
    """Reads through Apache go to both schedulers and keep succeeding while one is killed."""
    stack = zk_stack
    geard = stack.gearman()
    tenants = tenant_file(stack.workdir)
    first = _scheduler(stack, "a", geard, github_api, tenants)
    wait_for(lambda: _role(first).get("active"), 10, what="first scheduler active")
    second = _scheduler(stack, "b", geard, github_api, tenants)
    wait_for(lambda: _role(second).get("active_url") == first.url, 10, what="standby")
    # No status cache: every read reaches a scheduler.
    apache = stack.apache(zuul={"scheduler": [f"127.0.0.1:{first.port}",
                                              f"127.0.0.1:{second.port}"]},
                          status_cache={"enabled": False})
    base = f"{apache.url}/zuul/api"
    events = Events(geard)
    numbers = [61, 62]
    try:
        for number in numbers:
            assert events.send("pull_request", pr_body("org/slow", number, sha(number))) \
                == "accepted"
        expected = [f"{n},{sha(n)}" for n in numbers]
        wait_for(lambda: item_ids(second.url, "check") == expected, 10,
                 what="mirrored items")

        def read_all(count: int) -> set[str]:
            """``count`` reads through Apache, each a 200 with the queue; who answered."""
            answered = set()
            for _ in range(count):
                answer = get(f"{base}/scheduler")
                assert answer.status == 200, answer.text
                answered.add(answer.json()["url"])
            for _ in range(count):
                assert item_ids(f"{apache.url}/zuul", "check") == expected
            return answered

        # Both schedulers answer reads (byrequests alternates between them).
        assert read_all(10) == {first.url, second.url}

        first.kill()
        # Right after the kill (the standby has not taken over yet) and for a while after,
        # every read through Apache is answered, by the survivor.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert read_all(5) == {second.url}
        wait_for(lambda: _role(second).get("active"), 10, what="the standby taking over")
        assert read_all(10) == {second.url}
        assert get(f"{apache.url}/zuul/health/ready").status == 200
        # An admin write through Apache reaches the new active scheduler.
        answer = request("POST", f"{base}/tenant/example/project/org/slow/enqueue",
                         body={"pipeline": "check", "change": f"63,{sha(63)}"},
                         headers=bearer(["example"]))
        assert answer.status == 200, answer.text
        wait_for(lambda: item_ids(second.url, "check") == expected + [f"63,{sha(63)}"], 10,
                 what="enqueue through Apache")
    finally:
        events.close()
