"""What the scheduler hands the executor (BuildRequest) and gets back (BuildResult)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
TIMED_OUT = "TIMED_OUT"
ERROR = "ERROR"
ABORTED = "ABORTED"
RESULTS = (SUCCESS, FAILURE, TIMED_OUT, ERROR, ABORTED)


@dataclass
class BuildRequest:
    """One build: run ``playbook`` against ``nodes`` with Zuul's variables.

    ``nodes`` are dicts ``{"name", "host", "connection": "local"|"ssh", "port", "username"}``;
    ``zuul_vars`` becomes the extra var ``zuul`` (``project``, ``change``, ``pipeline``, ...;
    ``job`` and ``build`` are filled in from this request). ``project_git_url``/``ref`` are
    checked out into the work dir's ``src/`` when reachable. ``merge`` (when set, instead)
    describes the speculative future state to prepare in ``src/`` (see doc/internals.rst).
    """

    uuid: str
    job: str
    playbook: Path
    nodes: list[dict]
    zuul_vars: dict
    timeout: float
    project_git_url: str | None = None
    ref: str | None = None
    merge: dict | None = None
    # The job's own variables and its decrypted secrets (extra vars beside ``zuul``).
    variables: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class BuildResult:
    """How a build ended; ``log_path`` is its directory under the executor's log root."""

    uuid: str
    result: str
    start_time: float
    end_time: float
    log_path: Path
    error: str | None = None
