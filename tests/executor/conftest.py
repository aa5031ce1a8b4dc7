"""Fixtures for executor tests: an Executor on this test's work dir and a local node."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from zuul.executor import BuildRequest, Executor

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
LOCAL_NODE = {"name": "node", "host": "localhost", "connection": "local"}


def build_request(playbook: str, timeout: float = 60.0, **zuul_vars: object) -> BuildRequest:
    """A request for one of the test playbooks on a local node, with a fresh UUID."""
    variables = {"project": "org/project", "change": "1,1", "pipeline": "check", **zuul_vars}
    return BuildRequest(uuid=uuid.uuid4().hex, job="test-job", playbook=PLAYBOOKS / playbook,
                        nodes=[dict(LOCAL_NODE)], zuul_vars=variables, timeout=timeout)


@pytest.fixture
def log_root(workdir: Path) -> Path:
    path = workdir / "logs"
    path.mkdir(mode=0o755)
    return path


@pytest.fixture
def executor(workdir: Path, log_root: Path) -> Executor:
    return Executor(log_root=log_root, work_root=workdir / "work", max_concurrent=4)
