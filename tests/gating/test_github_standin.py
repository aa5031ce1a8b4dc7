"""The GitHub stand-in refuses what GitHub's REST API description does not allow, so a call
our code should not make fails the test that makes it."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.http import request
from tests.scheduler.github_api import GitHubAPI


@pytest.fixture
def standin() -> Iterator[GitHubAPI]:
    api = GitHubAPI().start()
    yield api
    api.stop()


def test_valid_calls_pass(standin: GitHubAPI) -> None:
    ok = request("POST", standin.url + "/repos/o/r/statuses/" + "a" * 40,
                 {"state": "success", "context": "zuul/gate", "description": "ok"})
    assert ok.status == 201
    run = request("POST", standin.url + "/repos/o/r/check-runs",
                  {"name": "zuul/gate", "head_sha": "a" * 40, "status": "in_progress",
                   "output": {"title": "t", "summary": "s"}})
    assert run.status == 201
    assert standin.violations == []


@pytest.mark.parametrize(("method", "path", "body", "problem"), [
    ("POST", "/repos/o/r/statuses/abc", {"state": "green"}, "repos/create-commit-status: "
     "body invalid at 'state'"),
    ("POST", "/repos/o/r/check-runs", {"name": "x"}, "checks/create: body invalid"),
    ("PUT", "/repos/o/r/pulls/1/merge", {"merge_method": "octopus"},
     "pulls/merge: body invalid at 'merge_method'"),
    ("POST", "/repos/o/r/issues/1/comments", None, "issues/create-comment: request body "
     "required"),
    ("POST", "/repos/o/r/merges", {"base": "main", "head": "x"},
     "POST /repos/o/r/merges is not a GitHub REST operation"),
    ("DELETE", "/repos/o/r/pulls/1", None, "DELETE /repos/o/r/pulls/1 is not a GitHub REST"),
])
def test_invalid_calls_are_refused_and_recorded(standin: GitHubAPI, method: str, path: str,
                                               body: dict | None, problem: str) -> None:
    answer = request(method, standin.url + path, body)
    assert answer.status in (404, 422)
    assert len(standin.violations) == 1 and standin.violations[0].startswith(problem), \
        standin.violations
