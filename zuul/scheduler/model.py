"""The scheduler's data model: the configured layout and the live queue state.

Layout (from the tenant config, replaced on reload): :class:`Tenant`, :class:`Project`,
:class:`PipelineConfig`, :class:`Job`, :class:`TriggerRule`.

Live state (survives reloads): :class:`Change` (what an item tests), :class:`QueueItem`,
:class:`ChangeQueue`, :class:`Build`.
"""
from __future__ import annotations

import asyncio
import enum
import functools
import os
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Identifiers of items, buildsets and builds: random version-4 UUIDs from a generator seeded
# once from the OS, not os.urandom per id (a system call that gives up the GIL on the event
# loop's hot path, then waits for it behind the gear threads). They name things, they
# guard nothing.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def new_uuid() -> str:
    """A fresh random UUID (version 4), as 32 hex digits."""
    return uuid.UUID(int=_ids.getrandbits(128), version=4).hex


SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
ABORTED = "ABORTED"
CANCELED = "CANCELED"
NODE_FAILURE = "NODE_FAILURE"
ERROR = "ERROR"
SKIPPED = "SKIPPED"


class MergeState(enum.Enum):
    """Where an item's speculative future state stands (see ``doc/gating.rst``)."""

    NEW = "new"
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass
class TriggerRule:
    """One trigger of a pipeline: a GitHub event type plus optional filters."""

    connection: str
    event: str
    actions: list[str] = field(default_factory=list)
    comment: re.Pattern[str] | None = None
    state: list[str] = field(default_factory=list)
    refs: list[re.Pattern[str]] = field(default_factory=list)


@dataclass
class Job:
    """A job definition: a playbook run on a nodeset of labels."""

    name: str
    playbook: Path | None
    nodeset: list[str]
    timeout: float
    voting: bool
    description: str = ""
    required_projects: list[str] = field(default_factory=list)
    # The job it says it builds on (None: a base job); informational, no inheritance.
    parent: str | None = None
    # Jobs of the same item that must succeed before this one starts.
    dependencies: list[str] = field(default_factory=list)
    # Semaphores a build holds while it runs (each allows at most its max holders).
    semaphores: list[str] = field(default_factory=list)
    # Ansible variables given to the playbook.
    variables: dict[str, Any] = field(default_factory=dict)
    # Names of the tenant's secrets handed to the playbook (decrypted) as variables.
    secrets: list[str] = field(default_factory=list)
    # Where the job is defined (file and index), for the API's source_context.
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A short description of the job (for logs and our CLI)."""
        return {"name": self.name, "description": self.description, "voting": self.voting,
                "timeout": self.timeout, "nodeset": {"nodes": [
                    {"name": f"node{i}", "label": label} for i, label in
                    enumerate(self.nodeset)]},
                "playbook": str(self.playbook) if self.playbook else None}


@dataclass(frozen=True)
class Secret:
    """A secret: its owning project (whose key encrypted it) and encrypted fields."""

    name: str
    project: str
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Project:
    """A project (repository) of a tenant and the jobs each pipeline runs for it."""

    name: str
    connection: str
    git_url: str
    pipelines: dict[str, list[str]]
    queue: str | None = None
    merge_mode: str = "merge"


@dataclass
class PipelineConfig:
    """A pipeline's configuration."""

    name: str
    manager: str
    description: str
    triggers: list[TriggerRule]
    reporters: dict[str, dict[str, dict[str, Any]]]
    window: int
    precedence: str = "normal"

    @property
    def dependent(self) -> bool:
        return self.manager == "dependent"


@dataclass
class Tenant:
    """A tenant: its projects, pipelines and jobs."""

    name: str
    projects: dict[str, Project]
    pipelines: dict[str, PipelineConfig]
    jobs: dict[str, Job]
    config_repo: Path
    # Semaphore name -> max concurrent holders.
    semaphores: dict[str, int] = field(default_factory=dict)
    # Secret name -> its still-encrypted data (decrypted only when a build starts).
    secrets: dict[str, Secret] = field(default_factory=dict)
    # Problems found loading this tenant's config (Zuul's config-errors entries).
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """What an item tests: a pull request at a head sha, or a pushed ref."""

    project: str
    connection: str
    ref: str
    newrev: str
    oldrev: str = ""
    number: int | None = None
    branch: str = ""
    url: str = ""
    title: str = ""
    body: str = ""

    @functools.cached_property
    def id(self) -> str:
        """Zuul's item id: ``<number>,<sha>`` for a change, the new revision for a ref."""
        return f"{self.number},{self.newrev}" if self.number is not None else self.newrev

    @property
    def patchset(self) -> str | None:
        return self.newrev if self.number is not None else None

    def matches(self, change_spec: str) -> bool:
        """True when ``change_spec`` (``N``, ``N,sha`` or a ref) names this change."""
        number, _, sha = change_spec.partition(",")
        if self.number is not None and number == str(self.number):
            return not sha or sha == self.newrev
        return change_spec in (self.ref, self.newrev)


_UNSET = object()
_PLAIN = (str, int, float, bool, type(None))


def _changed(old: Any, new: Any) -> bool:
    """True unless ``new`` is ``old`` or an equal plain value (cheap: no deep compares)."""
    return old is not new and not (type(old) in _PLAIN and type(new) in _PLAIN
                                   and old == new)


def mark_dirty(item: QueueItem) -> None:
    """Note that ``item``'s stored pipeline state (zuul.scheduler.zkstate) must be rewritten."""
    object.__setattr__(item, "state_dirty", True)


class BuildMap(dict[str, "Build"]):
    """An item's builds by job name: adding or removing one marks the item dirty, and its
    builds mark it dirty when they change (so only changed items are serialised)."""

    def __init__(self, owner: QueueItem, builds: dict[str, Build] | None = None) -> None:
        super().__init__()
        self.owner = owner
        for name, build in (builds or {}).items():
            self[name] = build

    def __setitem__(self, name: str, build: Build) -> None:
        object.__setattr__(build, "owner", self.owner)
        super().__setitem__(name, build)
        mark_dirty(self.owner)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        mark_dirty(self.owner)

    def pop(self, name: str, *default: Any) -> Any:
        mark_dirty(self.owner)
        return super().pop(name, *default)

    def clear(self) -> None:
        mark_dirty(self.owner)
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, build in dict(*args, **kwargs).items():
            self[name] = build

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]

    def popitem(self) -> tuple[str, Build]:
        mark_dirty(self.owner)
        return super().popitem()


@dataclass(eq=False)
class Build:
    """One run of a job for an item (compared by identity)."""

    job: Job
    uuid: str = field(default_factory=new_uuid)
    result: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    canceled: bool = False
    retry: bool = False
    error: str | None = None
    log_url: str | None = None
    held: bool = False
    buildset_uuid: str = ""
    waiting: str | None = None  # what a build not started yet waits for (status.json)
    relative_priority: int = 0  # its item's place in its queue, for Nodepool (0 = head)
    node_request: str | None = None  # its waiting node request's id (to revise its priority)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Plain attributes (no descriptors): the instance dict, directly (this runs for
        # every field of every new build).
        fields = self.__dict__
        old = fields.get(name, _UNSET)
        fields[name] = value
        if name != "task" and _changed(old, value):
            owner = fields.get("owner")
            if owner is not None:
                owner.__dict__["state_dirty"] = True

    @property
    def running(self) -> bool:
        return self.result is None and self.task is not None


@dataclass(eq=False)
class QueueItem:
    """A change enqueued in a pipeline (compared by identity: ``item in queue.items`` and
    ``queue.items.index(item)`` stay cheap however many items are queued)."""

    change: Change
    pipeline: str
    jobs: list[Job]
    event_id: str = ""
    enqueue_time: float = field(default_factory=time.time)
    live: bool = True
    active: bool = False
    builds: dict[str, Build] = field(default_factory=dict)
    base: QueueItem | None = None
    base_set: bool = False
    buildset_uuid: str = field(default_factory=new_uuid)
    dequeued: bool = False
    reported_start: bool = False
    previous_builds: list[Build] = field(default_factory=list)
    uuid: str = field(default_factory=new_uuid)
    # The speculative future state (zuul.merger): its spec and outcome, once merged.
    merge_state: MergeState = MergeState.NEW
    merge_spec: Any = None
    merge_outcome: Any = None
    # Why the item fails without (or besides) a failed job: a merge conflict, a refused
    # merge, a dependency problem. Reported as the item's message.
    error: str | None = None
    # Changes this one needs (Depends-On), nearest last; merging waits for them.
    needs: list[Change] = field(default_factory=list)
    # In a dependent pipeline with a merging reporter: None until the merge was tried.
    merged: bool | None = None
    merging: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        """Every field change marks the item dirty (``state_dirty``; not a field)."""
        if name == "builds" and not isinstance(value, BuildMap):
            value = BuildMap(self, value)
        fields = self.__dict__  # plain attributes: the instance dict, directly (hot path)
        old = fields.get(name, _UNSET)
        fields[name] = value
        if _changed(old, value):
            fields["state_dirty"] = True

    @property
    def failing(self) -> bool:
        """True when a voting job of the item failed, or the item itself did."""
        return self.error is not None or any(
            b.result not in (None, SUCCESS, SKIPPED) and b.job.voting and not b.canceled
            for b in self.builds.values())

    def failing_reasons(self) -> list[str]:
        """Why the item fails, as in Zuul's status.json."""
        if self.error is not None:
            return [self.error]
        return ["at least one job failed"] if self.failing else []

    @property
    def complete(self) -> bool:
        """True when every job has a result, or the item failed before its builds."""
        if self.error is not None:
            return all(b.result is not None or b.task is None for b in self.builds.values())
        return len(self.builds) == len(self.jobs) and all(
            b.result is not None for b in self.builds.values())

    def overall_result(self) -> str:
        """SUCCESS when every voting job succeeded, else FAILURE."""
        return FAILURE if self.failing else SUCCESS

    def reset(self) -> list[Build]:
        """Start over (for example when the item ahead failed); return the builds to cancel."""
        old = list(self.builds.values())
        for build in old:
            if build.result is None:
                build.canceled = True
        self.previous_builds.extend(old)
        self.builds = {}
        self.buildset_uuid = new_uuid()
        self.merge_state = MergeState.NEW
        self.merge_spec = self.merge_outcome = None
        if self.merged is None:
            self.error = None
        return [b for b in old if b.result is None]


@dataclass
class ChangeQueue:
    """An ordered queue of items (one shared queue per dependent pipeline queue name)."""

    name: str
    window: int
    items: list[QueueItem] = field(default_factory=list)
