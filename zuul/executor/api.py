"""The build request protocol between schedulers and ``zuul-executor`` processes (ZooKeeper).

Shaped like Zuul's executor API (documented in doc/internals.rst)::

    /zuul/executor/requests/<build uuid>         the request (JSON, below)
    /zuul/executor/requests/<build uuid>/cancel  exists once a scheduler cancels the build
    /zuul/executor/locks/<build uuid>            kazoo Lock, held by the executor running it

Request data: ``{"uuid", "state", "params", "worker", "waiting", "start_time", "result",
"created"}``. A scheduler creates it ``requested``; an executor takes the lock, sets
``running`` and its name, works (``waiting`` says what it waits for, ``start_time`` is set
when the playbook starts), then writes ``completed`` with ``result`` = ``{"result", "error",
"start_time", "end_time", "held"}`` and releases the lock. The scheduler that sees
``completed`` records the build and deletes the request. A request ``running`` whose lock has
no holder belongs to an executor that died: the scheduler ends that try and, within
``max_tries``, requests the job again under a new build uuid.

``params``: ``{"job", "playbook", "nodeset": [labels], "zuul_vars", "timeout",
"project_git_url", "ref", "priority", "autohold": {...} | null}``.
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from kazoo.retry import KazooRetry

ROOT = "/zuul/executor"
# Every request read and write retries through a ZooKeeper failover (a server of the ensemble
# lost, the leader included): the session lives on, the call must too.
FAILOVER_SECONDS = 30.0


def failover_retry() -> KazooRetry:
    """A kazoo retry policy riding out connection losses for up to FAILOVER_SECONDS."""
    return KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0, deadline=FAILOVER_SECONDS,
                      ignore_expire=False)
REQUESTS = f"{ROOT}/requests"
LOCKS = f"{ROOT}/locks"


class BuildState(enum.StrEnum):
    """States of a build request."""

    REQUESTED = "requested"
    RUNNING = "running"
    COMPLETED = "completed"


def request_path(uuid: str) -> str:
    return f"{REQUESTS}/{uuid}"


def cancel_path(uuid: str) -> str:
    return f"{REQUESTS}/{uuid}/cancel"


def lock_path(uuid: str) -> str:
    return f"{LOCKS}/{uuid}"


@dataclass
class BuildRequestRecord:
    """One build request znode."""

    uuid: str
    params: dict[str, Any]
    state: str = BuildState.REQUESTED.value
    worker: str | None = None
    waiting: str | None = None
    start_time: float | None = None
    result: dict[str, Any] | None = None
    created: float = 0.0
    version: int = field(default=-1, compare=False)

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("version")
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, version: int = -1) -> BuildRequestRecord:
        raw = json.loads(data)
        raw.pop("version", None)
        return cls(**raw, version=version)
