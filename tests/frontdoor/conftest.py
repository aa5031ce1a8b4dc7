"""Front door fixtures: a scheduler whose gate holds its queue, and admin tokens for it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import yaml

from tests.harness.http import Response, request
from tests.harness.servers import HTTPService
from tests.harness.stack import Stack

SECRET = "frontdoor-secret-of-at-least-32-bytes"
TENANT = "door"
AUTH = {"algorithm": "HS256", "secret": SECRET, "issuer": "frontdoor", "audience": "zuul"}
# A gate whose head item runs a job that waits, so enqueued items stay put until dequeued.
TENANT_CONFIG = {"tenants": [{
    "name": TENANT,
    "pipelines": [{"name": "gate", "manager": "dependent", "window": 1}],
    "jobs": [{"name": "hold", "playbook": "hold.yaml", "timeout": 600}],
    "projects": [{"name": "org/project", "pipelines": {"gate": ["hold"]}}]}]}
HOLD_PLAYBOOK = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
                 "    - ansible.builtin.wait_for: {timeout: 550}\n")


@dataclass
class HeldScheduler:
    """A running scheduler with the ``door`` tenant, driven through its admin API."""

    service: HTTPService

    def admin(self, action: str, body: dict[str, object]) -> Response:
        token = jwt.encode({"iss": "frontdoor", "aud": "zuul", "exp": int(time.time()) + 600,
                            "zuul": {"admin": [TENANT]}}, SECRET, algorithm="HS256")
        return request("POST", f"{self.service.url}/api/tenant/{TENANT}/project/org/project/"
                       f"{action}", body=body, headers={"Authorization": f"Bearer {token}"})

    def enqueue(self, number: int) -> None:
        response = self.admin("enqueue", {"pipeline": "gate",
                                          "change": f"{number},{number:040x}"})
        assert response.status == 200, response.text

    def dequeue(self, number: int) -> None:
        response = self.admin("dequeue", {"pipeline": "gate",
                                          "change": f"{number},{number:040x}"})
        assert response.status == 200, response.text


def write_tenant(workdir: Path) -> Path:
    (workdir / "hold.yaml").write_text(HOLD_PLAYBOOK)
    path = workdir / "tenant.yaml"
    path.write_text(yaml.safe_dump(TENANT_CONFIG))
    return path


@pytest.fixture
def held_scheduler(stack: Stack) -> HeldScheduler:
    """geard + zuul-scheduler with the ``door`` tenant (its own in-process executor)."""
    geard = stack.gearman()
    return HeldScheduler(stack.scheduler(geard, tenant_config=str(write_tenant(stack.workdir)),
                                         auth=AUTH))
