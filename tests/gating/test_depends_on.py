"""Depends-On across two projects: tested together in check, never merged first in gate,
and a cycle refused with a clear report."""
from __future__ import annotations

import pytest

from tests.gating.conftest import (
    approve,
    builds,
    checkout,
    completed_run,
    event,
    finished,
    start,
    tenant,
)
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, items, status
from tests.scheduler.github_api import GitHubAPI

NEEDS_A = "Fixes the thing.\r\n\r\nDepends-On: https://github.com/org/a/pull/1\r\n"


@pytest.mark.slow
def test_depends_on_across_projects(stack: Stack, github: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start(stack, geard, github, tenant(stack.workdir, github))
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"a.txt": "a\n"})
        b = github.add_pull("org/b", 2, {"b.txt": "b\n"}, body=NEEDS_A)
        # check: B is tested with A merged into org/a's future state (A fetched from the API).
        assert events.send("pull_request", event("opened", b, "org/b")) == "accepted"
        [check] = finished(scheduler.url, 2)
        seen = checkout(stack, check)
        assert check["result"] == "SUCCESS"
        assert seen["project_files"] == {"org/a": ["README", "a.txt"],
                                         "org/b": ["README", "b.txt"]}
        assert [(i["project"]["name"], i["change"]) for i in seen["zuul"]["items"]] == [
            ("org/a", "1"), ("org/b", "2")]
        assert set(seen["zuul"]["projects"]) == {"github.com/org/a", "github.com/org/b"}
        assert seen["zuul"]["projects"]["github.com/org/a"]["required"] is True
        # gate: B alone is refused (A is neither merged nor ahead), never merged before A.
        approve(events, "org/b", b)
        wait_for(lambda: not items(status(scheduler.url), "gate"), 60, what="B out of gate")
        run = completed_run(github, b["head"]["sha"], "zuul/gate")
        assert run["conclusion"] == "failure"
        assert "neither merged nor ahead" in github.comments("org/b", 2)[-1]
        assert github.merges() == []
        # With A approved first, B waits behind it; A merges, then B.
        approve(events, "org/a", a)
        approve(events, "org/b", b)
        wait_for(lambda: github.merges() == ["org/a#1", "org/b#2"], 120,
                 what="A then B merged")
        gate_b = [x for x in finished(scheduler.url, 2, count=2) if x["pipeline"] == "gate"]
        assert checkout(stack, gate_b[0])["project_files"]["org/a"] == ["README", "a.txt"]
    finally:
        events.close()


def test_dependency_cycle_is_refused(stack: Stack, github: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start(stack, geard, github, tenant(stack.workdir, github))
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"a.txt": "a\n"},
                            body="Depends-On: https://github.com/org/b/pull/2")
        github.add_pull("org/b", 2, {"b.txt": "b\n"}, body=NEEDS_A)
        assert events.send("pull_request", event("opened", a, "org/a")) == "accepted"
        run = completed_run(github, a["head"]["sha"])
        comment = github.comments("org/a", 1)[-1]
        assert "dependency cycle: org/a#1 -> org/b#2 -> org/a#1" in comment.lower()
        assert run["conclusion"] == "failure" and "cycle" in run["output"]["title"]
        assert github.statuses(a["head"]["sha"])[-1] == ("zuul/check", "failure")
        assert builds(scheduler.url) == [] and not items(status(scheduler.url), "check")
    finally:
        events.close()
