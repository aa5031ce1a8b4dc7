"""Events over real gearman move items through check and gate in a real zuul-scheduler."""
from __future__ import annotations

import pytest

from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import (
    Events,
    comment_body,
    items,
    pr_body,
    review_body,
    start_scheduler,
    status,
    tenant_file,
)
from tests.scheduler.github_api import GitHubAPI


def _builds(url: str, **query: str) -> list[dict]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return get(f"{url}/api/tenant/example/builds?{qs}").json()


@pytest.mark.slow
def test_check_pipeline_runs_jobs_and_reports(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    events = Events(geard)
    try:
        sha = "a" * 40
        body = pr_body("org/project", 7, sha)
        assert events.send("pull_request", body, delivery="d-1") == "accepted"
        assert events.send("pull_request", body, delivery="d-1") == "duplicate"
        # An event of an unknown project or a non-matching action enqueues nothing.
        assert events.send("pull_request", pr_body("org/unknown", 1, "b" * 40)) == "accepted"
        assert events.send("pull_request", pr_body("org/project", 8, "c" * 40, "closed")) \
            == "accepted"
        wait_for(lambda: len(_builds(scheduler.url, change="7")) == 2, 60,
                 what="both check builds in the history")
        done = _builds(scheduler.url, change="7")
        results = {b["job_name"]: b["result"] for b in done}
        assert results == {"unit": "SUCCESS", "lint": "SUCCESS"}, [b["error_detail"] for b in done]
        assert all(b["pipeline"] == "check" and b["patchset"] == sha for b in done)
        wait_for(lambda: ("zuul/check", "success") in github_api.statuses(sha), 10,
                 what="success status")
        assert github_api.statuses(sha) == [("zuul/check", "pending"), ("zuul/check", "success")]
        comments = github_api.comments("org/project", 7)
        assert len(comments) == 1 and "Build succeeded" in comments[0], github_api.dump()
        assert github_api.calls[0]["auth"] == "token gh-token"
        wait_for(lambda: not items(status(scheduler.url), "check"), 5, what="check empty")
        assert _builds(scheduler.url, change="8") == []
        # A recheck comment finds the change from the first event and runs it again.
        assert events.send("issue_comment", comment_body("org/project", 7, "recheck")) \
            == "accepted"
        wait_for(lambda: len(_builds(scheduler.url, change="7")) == 4, 60,
                 what="rechecked builds")
        # A comment on a pull request the scheduler has not seen: the head sha is fetched
        # from the GitHub API.
        github_api.pulls[("org/project", 11)] = pr_body("org/project", 11, "e" * 40)[
            "pull_request"]
        assert events.send("issue_comment", comment_body("org/project", 11, "recheck")) \
            == "accepted"
        wait_for(lambda: len(_builds(scheduler.url, change="11")) == 2, 60,
                 what="builds of the fetched change")
        assert _builds(scheduler.url, change="11")[0]["patchset"] == "e" * 40
    finally:
        events.close()


def test_status_json_shape_while_running(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    events = Events(geard)
    try:
        events.send("pull_request", pr_body("org/slow", 3, "d" * 40))
        running = wait_for(
            lambda: [i for i in items(status(scheduler.url), "check")
                     if i["jobs"][0]["start_time"]], 20, what="slow job running")
        item = running[0]
        assert item["refs"][0]["id"] == f"3,{'d' * 40}" and item["project"] == "org/slow"
        assert item["live"] and item["active"] and item["failing_reasons"] == []
        assert item["url"] == "https://github.com/org/slow/pull/3"
        assert item["enqueue_time"] > 1e12  # milliseconds
        job = item["jobs"][0]
        assert job["name"] == "slow" and job["result"] is None and job["voting"] is True
        assert job["url"] == f"stream/{job['uuid']}?logfile=console.log"
        assert job["elapsed_time"] >= 0 and job["canceled"] is False
        doc = status(scheduler.url)
        assert doc["trigger_event_queue"]["length"] == 0
        assert {p["name"] for p in doc["pipelines"]} == {"check", "gate", "post"}
        response = get(scheduler.url + "/api/tenant/example/status")
        assert response.headers["Cache-Control"] == "public, max-age=1"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        again = get(scheduler.url + "/api/tenant/example/status",
                    headers={"If-None-Match": response.headers["ETag"]})
        assert again.status in (200, 304)  # 304 unless a new snapshot was built meanwhile
        by_change = get(scheduler.url + "/api/tenant/example/status/change/3").json()
        assert [i["id"] for i in by_change] == [item["id"]]
    finally:
        events.close()


@pytest.mark.slow
def test_gate_reset_on_failure(stack: Stack, github_api: GitHubAPI) -> None:
    """A failing item ahead makes the items behind it restart their builds without it."""
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    events = Events(geard)
    try:
        events.send("pull_request_review", review_body("org/project", 1, "1" * 40))
        events.send("pull_request_review", review_body("org/broken", 2, "2" * 40))
        events.send("pull_request_review", review_body("org/slow", 3, "3" * 40))
        queued = items(status(scheduler.url), "gate")
        assert [i["refs"][0]["id"].split(",")[0] for i in queued] == ["1", "2", "3"]
        assert queued[1]["item_ahead"] == queued[0]["id"]
        assert queued[1]["items_behind"] == [queued[2]["id"]]
        # The broken change fails while the slow change behind it runs: the slow change is
        # reset (its build canceled) and tested again on top of change 1 only.
        wait_for(lambda: _builds(scheduler.url, change="3", result="SUCCESS"), 90,
                 what="change 3 tested again and passed")
        assert [b["result"] for b in _builds(scheduler.url, change="2")] == ["FAILURE"]
        runs = _builds(scheduler.url, change="3")
        assert [b["result"] for b in runs] == ["SUCCESS", "CANCELED"]
        assert runs[0]["buildset"]["uuid"] != runs[1]["buildset"]["uuid"]
        wait_for(lambda: not items(status(scheduler.url), "gate"), 60, what="gate empty")
        wait_for(lambda: github_api.statuses("3" * 40)[-1:] == [("zuul/gate", "success")], 10,
                 what="change 3 reported")
        assert github_api.statuses("1" * 40)[-1] == ("zuul/gate", "success")
        assert github_api.statuses("2" * 40)[-1] == ("zuul/gate", "failure")
        assert "Build failed" in github_api.comments("org/broken", 2)[-1]
    finally:
        events.close()
