"""Scheduler area fixtures: a GitHub API stand-in, event submission, tokens, a scheduler."""
from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import gear
import jwt
import yaml

from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.servers import GearmanServer, HTTPService
from tests.harness.stack import Stack
from tests.scheduler.github_api import GitHubAPI

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ADMIN_TENANTS = ["example"]
SECRET = "test-secret-of-at-least-32-bytes-long!"
AUTH = {"algorithm": "HS256", "secret": SECRET, "issuer": "zuul-tests", "audience": "zuul",
        "admin_claim": "zuul.admin"}


def token(tenants: list[str], expires_in: float = 4 * 3600, secret: str = SECRET,
          issuer: str = "zuul-tests") -> str:
    """An admin JWT for ``tenants``."""
    return jwt.encode({"iss": issuer, "aud": "zuul", "sub": "tester",
                       "exp": int(time.time() + expires_in), "zuul": {"admin": tenants}},
                      secret, algorithm="HS256")


def bearer(tenants: list[str], **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenants, **kwargs)}"}


def pr_body(project: str, number: int, sha: str, action: str = "opened") -> dict[str, Any]:
    pull = {"number": number, "title": f"change {number}", "state": "open",
            "html_url": f"https://github.com/{project}/pull/{number}",
            "head": {"sha": sha, "ref": f"feature-{number}"}, "base": {"ref": "main"}}
    return {"action": action, "number": number, "pull_request": pull,
            "repository": {"full_name": project}}


def review_body(project: str, number: int, sha: str) -> dict[str, Any]:
    return {**pr_body(project, number, sha, "submitted"), "review": {"state": "approved"}}


def comment_body(project: str, number: int, text: str) -> dict[str, Any]:
    return {"action": "created", "issue": {"number": number, "pull_request": {}},
            "comment": {"body": text}, "repository": {"full_name": project}}


class Events:
    """Submits raw GitHub events as ``zuul:event:github`` jobs, like a webhook worker."""

    def __init__(self, geard: GearmanServer) -> None:
        self.client = geard.client("tests")  # with the harness's client certificate

    def send(self, event: str, body: dict[str, Any], delivery: str | None = None) -> str:
        """Submit one event and wait for the scheduler's answer; return its status."""
        delivery = delivery or uuid.uuid4().hex
        payload = {"connection": "github", "delivery": delivery, "event": event,
                   "headers": {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery},
                   "body": json.dumps(body), "received_at": time.time()}
        job = gear.Job(b"zuul:event:github", json.dumps(payload).encode())
        self.client.submitJob(job)
        wait_for(lambda: job.complete, 20, what=f"event {delivery} processed")
        return json.loads(b"".join(job.data))["status"]

    def close(self) -> None:
        self.client.shutdown()


def tenant_file(workdir: Path, source: Path = FIXTURES / "tenant.yaml") -> Path:
    """A copy of a tenant config (with its config repo) that a test may change."""
    shutil.copytree(FIXTURES / "config-repo", workdir / "config-repo", dirs_exist_ok=True)
    target = workdir / "tenant.yaml"
    target.write_text(source.read_text())
    return target


def edit_tenant(path: Path, change: Any) -> None:
    """Apply ``change(data)`` to the tenant config file at ``path``."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def start_scheduler(stack: Stack, geard: GearmanServer, github: GitHubAPI,
                    tenants: Path | None, **extra: Any) -> HTTPService:
    """A zuul-scheduler on ``geard`` with the tenant config, auth and the GitHub stand-in."""
    conf: dict[str, Any] = {
        "auth": AUTH,
        "connections": {"github": {"api_url": github.url, "token": "gh-token"}},
        "executor": {"max_concurrent": 4},
        **extra}
    if tenants is not None:
        conf["tenant_config"] = str(tenants)
    return stack.scheduler(geard, **conf)


def status(url: str, tenant: str = "example") -> dict[str, Any]:
    return get(f"{url}/api/tenant/{tenant}/status", headers={"Cache-Control": "no-cache"}).json()


def items(doc: dict[str, Any], pipeline: str) -> list[dict[str, Any]]:
    """Every item of ``pipeline`` in a status document, in queue order."""
    for p in doc["pipelines"]:
        if p["name"] == pipeline:
            return [i for q in p["change_queues"] for h in q["heads"] for i in h]
    raise KeyError(pipeline)


def running_build(doc: dict[str, Any], number: int) -> str | None:
    """The uuid of a started, unfinished build of pull request ``number`` in any pipeline of
    a status document, or None."""
    for pipeline in doc["pipelines"]:
        for item in items(doc, pipeline["name"]):
            if item["refs"][0]["id"].startswith(f"{number},"):
                for job in item["jobs"]:
                    if job["uuid"] and job["start_time"] and not job["result"]:
                        return str(job["uuid"])
    return None
