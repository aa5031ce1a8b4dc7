"""Gating fixtures: a GitHub stand-in with real git repositories, a tenant using them."""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.servers import GearmanServer, HTTPService
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events
from tests.scheduler.github_api import GitHubAPI

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROJECTS = ["org/a", "org/b"]
REPORT: dict[str, Any] = {"github": {"status": True, "comment": True, "check": True}}


@pytest.fixture
def github(workdir: Path) -> Iterator[GitHubAPI]:
    """The GitHub stand-in serving ``org/a`` and ``org/b`` as git repositories."""
    api = GitHubAPI(root=workdir / "github")
    api.repos.root.mkdir()
    for project in PROJECTS:
        api.repos.create(project)
    api.start()
    yield api
    api.stop()
    assert not api.violations, f"calls GitHub would not take: {api.violations}"


def tenant(workdir: Path, github: GitHubAPI, merge: bool = True,
           merge_mode: str = "merge") -> Path:
    """A tenant with check and gate (shared queue, merging on success) for org/a, org/b."""
    repo = workdir / "config-repo"
    shutil.copytree(FIXTURES, repo, dirs_exist_ok=True)
    success = {"github": {**REPORT["github"], "merge": merge}}
    conf = {"config_repo": "config-repo", "tenants": [{
        "name": "example",
        "pipelines": [
            {"name": "check", "manager": "independent",
             "trigger": {"github": [{"event": "pull_request", "action": ["opened"]}]},
             "start": {"github": {"status": True, "comment": False, "check": True}},
             "success": REPORT, "failure": REPORT},
            {"name": "gate", "manager": "dependent", "window": 10,
             "trigger": {"github": [{"event": "pull_request_review", "action": "submitted",
                                     "state": "approved"}]},
             "start": {"github": {"status": True, "comment": False, "check": True}},
             "success": success, "failure": REPORT}],
        "jobs": [{"name": "look", "playbook": "playbooks/look.yaml", "timeout": 300},
                 {"name": "look-both", "playbook": "playbooks/look.yaml", "timeout": 300,
                  "required-projects": ["org/a"]}],
        "projects": [
            {"name": "org/a", "git_url": github.repos.url("org/a"), "queue": "shared",
             "merge-mode": merge_mode, "pipelines": {"check": ["look"], "gate": ["look"]}},
            {"name": "org/b", "git_url": github.repos.url("org/b"), "queue": "shared",
             "merge-mode": merge_mode,
             "pipelines": {"check": ["look-both"], "gate": ["look"]}}]}]}
    path = workdir / "tenant.yaml"
    path.write_text(yaml.safe_dump(conf, sort_keys=False))
    return path


def start(stack: Stack, geard: GearmanServer, github: GitHubAPI, tenant_path: Path,
          extra: dict[str, Any] | None = None, **connection: Any) -> HTTPService:
    conn = {"api_url": github.url, "token": "gh-token",
            "status_url": "https://zuul.example.org/t/{tenant}/buildset/{buildset}",
            **connection}
    if "app_id" in connection:
        conn.pop("token")
    config: dict[str, Any] = {"executor": {"max_concurrent": 4}, **(extra or {})}
    return stack.scheduler(geard, tenant_config=str(tenant_path),
                           connections={"github": conn}, **config)


def event(action: str, pull: dict[str, Any], project: str) -> dict[str, Any]:
    body: dict[str, Any] = {"action": action, "number": pull["number"], "pull_request": pull,
                            "repository": {"full_name": project}}
    if action == "submitted":
        body["review"] = {"state": "approved"}
    return body


def approve(events: Events, project: str, pull: dict[str, Any]) -> None:
    assert events.send("pull_request_review", event("submitted", pull, project)) == "accepted"


def builds(url: str, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return get(f"{url}/api/tenant/example/builds?{qs}").json()


def finished(url: str, change: int, count: int = 1) -> list[dict[str, Any]]:
    """Wait until ``change`` has ``count`` finished builds (newest first); return them."""
    return wait_for(lambda: [b for b in builds(url, change=str(change)) if b["result"]]
                    if len([b for b in builds(url, change=str(change)) if b["result"]])
                    >= count else None, 120, what=f"{count} build(s) of change {change}")


def checkout(stack: Stack, build: dict[str, Any], log_root: Path | None = None
             ) -> dict[str, Any]:
    """What a build's playbook recorded: HEAD, branch, files, and its zuul variable."""
    log_dir = (log_root or stack.workdir / "scheduler-state" / "logs") / build["uuid"]
    lines = (log_dir / "checkout.txt").read_text().splitlines()
    return {"head": lines[0].split()[1], "branch": lines[1].split()[1],
            "files": sorted(line.split(" ", 1)[1] for line in lines if line.startswith("FILE")),
            "project_files": {p: sorted(line.split(" ", 2)[2] for line in lines
                                        if line.startswith(f"PFILE {p} ")) for p in PROJECTS},
            "zuul": json.loads((log_dir / "zuul.json").read_text())}


def completed_run(github: GitHubAPI, sha: str, name: str | None = None) -> dict[str, Any]:
    """Wait for the completed check run of ``sha`` (the last thing a report sends)."""
    return wait_for(lambda: [r for r in github.check_runs.values()
                             if r["head_sha"] == sha and r.get("status") == "completed"
                             and name in (None, r["name"])],
                    30, what=f"completed check run of {sha}")[-1]
