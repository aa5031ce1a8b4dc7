"""Real gating end to end: real git repositories behind the GitHub stand-in, the real
scheduler and executor running ansible-playbook, events over gearman."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.gating.conftest import (
    approve,
    builds,
    checkout,
    completed_run,
    finished,
    start,
    tenant,
)
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, items, status
from tests.scheduler.github_api import GitHubAPI


def test_b_behind_a_sees_a_and_both_merge_in_order(stack: Stack, github: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start(stack, geard, github, tenant(stack.workdir, github))
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"a.txt": "a\n"})
        b = github.add_pull("org/a", 2, {"b.txt": "b\n"})
        # The branch moves on after both were branched: the builds must see it.
        tip = github.repos.commit("org/a", "main", {"later.txt": "x\n"}, "later",
                                  "refs/heads/main")
        hold = stack.workdir / "config-repo" / "hold-2"
        hold.touch()
        approve(events, "org/a", a)
        approve(events, "org/a", b)
        # While B runs, what the status API says B is tested on is what B checked out.
        log_dir = stack.workdir / "scheduler-state" / "logs"
        running = wait_for(lambda: _running_uuid(scheduler.url, log_dir), 120,
                           what="B's build checked out")
        seen = checkout(stack, {"uuid": running})
        queued = items(status(scheduler.url), "gate")
        item_b = [i for i in queued if i["refs"][0]["id"].startswith("2,")][0]
        assert item_b["future_state"] == {"org/a": seen["head"]}
        assert seen["zuul"]["projects"]["github.com/org/a"]["commit"] == seen["head"]
        hold.unlink()
        wait_for(lambda: not items(status(scheduler.url), "gate"), 120, what="gate empty")
        [build_b] = finished(scheduler.url, 2)
        assert build_b["uuid"] == running and build_b["result"] == "SUCCESS"
        assert seen["files"] == ["README", "a.txt", "b.txt", "later.txt"]
        assert seen["branch"] == "main"
        assert [i["change"] for i in seen["zuul"]["items"]] == ["1", "2"]
        assert seen["zuul"]["items"][0]["commit_id"] == a["head"]["sha"]
        # Merged through the API, in order, with the tested head SHAs; B was not rebuilt.
        assert github.merges() == ["org/a#1", "org/a#2"]
        merge_shas = [c["body"]["sha"] for c in github.calls if c["operation"] == "pulls/merge"]
        assert merge_shas == [a["head"]["sha"], b["head"]["sha"]]
        assert sorted(github.repos.files("org/a")) == ["README", "a.txt", "b.txt",
                                                       "later.txt"]
        assert github.repos.tip("org/a") != tip
        # The check run's lifecycle: in_progress at start, completed success at the end.
        run = completed_run(github, b["head"]["sha"])
        assert len([r for r in github.check_runs.values()
                    if r["head_sha"] == b["head"]["sha"]]) == 1
        assert github.statuses(b["head"]["sha"])[-1] == ("zuul/gate", "success")
        assert [h["status"] for h in run["history"]] == ["in_progress", "completed"]
        assert run["conclusion"] == "success" and run["name"] == "zuul/gate"
        assert run["output"]["title"].startswith("Build succeeded")
        assert "look" in run["output"]["summary"]
        assert run["details_url"].startswith("https://zuul.example.org/t/example/buildset/")
    finally:
        events.close()


def _running_uuid(url: str, log_dir: Path) -> str | None:
    """The uuid of B's build once its playbook recorded what it checked out."""
    for item in items(status(url), "gate"):
        if item["refs"][0]["id"].startswith("2,"):
            for job in item["jobs"]:
                if job["uuid"] and (log_dir / job["uuid"] / "recorded").exists():
                    return job["uuid"]
    return None


@pytest.mark.slow
def test_failing_a_resets_b_onto_the_branch_without_a(stack: Stack,
                                                       github: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start(stack, geard, github, tenant(stack.workdir, github))
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"a.txt": "a\n", "fail-1": "x\n"})
        b = github.add_pull("org/a", 2, {"b.txt": "b\n"})
        approve(events, "org/a", a)
        approve(events, "org/a", b)
        wait_for(lambda: not items(status(scheduler.url), "gate"), 120, what="gate empty")
        assert [x["result"] for x in finished(scheduler.url, 1)] == ["FAILURE"]
        runs = finished(scheduler.url, 2)
        final = checkout(stack, runs[0])
        assert runs[0]["result"] == "SUCCESS"
        assert final["files"] == ["README", "b.txt"]
        assert [i["change"] for i in final["zuul"]["items"]] == ["2"]
        assert github.merges() == ["org/a#2"]
        completed_run(github, a["head"]["sha"])
        assert github.statuses(a["head"]["sha"])[-1] == ("zuul/gate", "failure")
    finally:
        events.close()


def test_conflict_is_reported_without_a_build(stack: Stack, github: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start(stack, geard, github, tenant(stack.workdir, github))
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"README": "one\n"})
        b = github.add_pull("org/a", 2, {"README": "two\n"})
        approve(events, "org/a", a)
        approve(events, "org/a", b)
        wait_for(lambda: not items(status(scheduler.url), "gate"), 120, what="gate empty")
        assert builds(scheduler.url, change="2") == []
        assert [x["result"] for x in finished(scheduler.url, 1)] == ["SUCCESS"]
        assert github.merges() == ["org/a#1"]
        run = completed_run(github, b["head"]["sha"])
        comment = github.comments("org/a", 2)[-1]
        assert comment.startswith("Merge conflict: org/a#2 does not merge"), comment
        assert github.statuses(b["head"]["sha"])[-1] == ("zuul/gate", "failure")
        assert run["conclusion"] == "failure"
        assert run["output"]["title"].startswith("Merge conflict")
    finally:
        events.close()


@pytest.mark.slow
def test_refused_merge_fails_the_item_and_resets_the_items_behind(
        stack: Stack, github: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start(stack, geard, github, tenant(stack.workdir, github))
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"a.txt": "a\n"})
        b = github.add_pull("org/a", 2, {"b.txt": "b\n"})
        github.refuse_merge[("org/a", 1)] = (405, "Required status check \"ci\" is expected.")
        approve(events, "org/a", a)
        approve(events, "org/a", b)
        wait_for(lambda: not items(status(scheduler.url), "gate"), 180, what="gate empty")
        assert github.merges() == ["org/a#1", "org/a#2"]
        completed_run(github, a["head"]["sha"])
        assert github.statuses(a["head"]["sha"])[-1] == ("zuul/gate", "failure")
        assert "Required status check" in github.comments("org/a", 1)[-1]
        runs = finished(scheduler.url, 2, count=2)
        assert [r["result"] for r in runs][:1] == ["SUCCESS"]
        assert checkout(stack, runs[0])["files"] == ["README", "b.txt"]
        assert github.pulls[("org/a", 2)]["merged"] and not github.pulls[("org/a", 1)]["merged"]
    finally:
        events.close()
