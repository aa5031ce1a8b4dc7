"""The future state travels in the build request: a zuul-executor process (its own repo
cache, its own merger) prepares the same state the scheduler's merger checked."""
from __future__ import annotations

import pytest

from tests.durable.conftest import executor
from tests.gating.conftest import approve, checkout, finished, start, tenant
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, items, status
from tests.scheduler.github_api import GitHubAPI


@pytest.mark.slow
def test_zuul_executor_process_builds_b_on_a(zk_stack: Stack, github: GitHubAPI) -> None:
    stack = zk_stack
    log_root = stack.workdir / "logs"
    geard = stack.gearman()
    executor(stack, "e1", log_root)
    scheduler = start(stack, geard, github, tenant(stack.workdir, github),
                      extra={"executor": {"external": True},
                             "zookeeper": stack.zookeeper_conf()})
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"a.txt": "a\n"})
        b = github.add_pull("org/a", 2, {"b.txt": "b\n"})
        approve(events, "org/a", a)
        approve(events, "org/a", b)
        wait_for(lambda: not items(status(scheduler.url), "gate"), 180, what="gate empty")
        [build_b] = finished(scheduler.url, 2)
        seen = checkout(stack, build_b, log_root)
        assert build_b["result"] == "SUCCESS"
        assert seen["files"] == ["README", "a.txt", "b.txt"]
        assert seen["zuul"]["projects"]["github.com/org/a"]["commit"] == seen["head"]
        assert github.merges() == ["org/a#1", "org/a#2"]
        assert b["head"]["sha"] in [i["commit_id"] for i in seen["zuul"]["items"]]
    finally:
        events.close()
