"""Helpers for executor tests: process liveness, playbook PID files, build requests."""
from __future__ import annotations

import uuid
from pathlib import Path

from zuul.executor import BuildRequest


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (PID 1 here does not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def read_pid(path: Path) -> int | None:
    """The PID written to ``path`` by a playbook, once it is complete."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
LOCAL_NODE = {"name": "node", "host": "localhost", "connection": "local"}


def build_request(playbook: str, timeout: float = 60.0, **zuul_vars: object) -> BuildRequest:
    """A request for one of the test playbooks on a local node, with a fresh UUID."""
    variables = {"tenant": "example", "project": "org/project", "change": "1,1",
                 "pipeline": "check", **zuul_vars}
    return BuildRequest(uuid=uuid.uuid4().hex, job="test-job", playbook=PLAYBOOKS / playbook,
                        nodes=[dict(LOCAL_NODE)], zuul_vars=variables, timeout=timeout)
