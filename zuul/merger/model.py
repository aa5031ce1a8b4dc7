"""What the merger is asked (:class:`MergeSpec`) and what it answers (:class:`MergeOutcome`).

Both travel as plain JSON in the build request parameters (``doc/internals.rst``), so an
executor in another process reproduces the very state the scheduler's merger computed: the
same base commits (``repo_state``), the same changes in the same order, the same commit
identity and date (``merge_time``) give the same commit ids.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class MergeMode(enum.StrEnum):
    """How a change is put on top of its branch (a project's ``merge-mode``), as in Zuul."""

    MERGE = "merge"
    SQUASH_MERGE = "squash-merge"
    REBASE = "rebase"
    CHERRY_PICK = "cherry-pick"


CANONICAL_HOSTNAME = "github.com"


def project_vars(name: str) -> dict[str, str]:
    """Zuul's description of a project (``zuul.project``, ``zuul.items[].project``...)."""
    return {"name": name, "short_name": name.rsplit("/", 1)[-1],
            "canonical_hostname": CANONICAL_HOSTNAME,
            "canonical_name": f"{CANONICAL_HOSTNAME}/{name}",
            "src_dir": f"src/{CANONICAL_HOSTNAME}/{name}"}


# GitHub's ``merge_method`` for each mode (GitHub has no cherry-pick; its ``rebase`` replays
# the pull request's commits on the branch, which is what a cherry-pick of them does).
GITHUB_MERGE_METHOD = {MergeMode.MERGE: "merge", MergeMode.SQUASH_MERGE: "squash",
                       MergeMode.REBASE: "rebase", MergeMode.CHERRY_PICK: "rebase"}


@dataclass(frozen=True)
class MergeItem:
    """One change of the future state: a pull request head (or a pushed ref) of a project."""

    project: str
    git_url: str
    branch: str
    ref: str
    newrev: str
    number: int | None = None
    merge_mode: str = MergeMode.MERGE.value
    title: str = ""

    @property
    def label(self) -> str:
        return f"{self.project}#{self.number}" if self.number is not None else \
            f"{self.project} {self.ref}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MergeItem:
        return cls(**data)


@dataclass(frozen=True)
class ProjectSpec:
    """A project to check out: its git URL and the branch the future state is built on."""

    name: str
    git_url: str
    branch: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProjectSpec:
        return cls(**data)


@dataclass
class MergeSpec:
    """The future state to prepare: ``items`` in queue order (the tested change last).

    ``repo_state`` (``{project: {branch: sha}}``) pins the branch tips; empty means "the tips
    as fetched now" (the scheduler's first merge), and the outcome records the tips it used.
    """

    items: list[MergeItem]
    projects: list[ProjectSpec]
    merge_time: int
    repo_state: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"items": [asdict(i) for i in self.items],
                "projects": [asdict(p) for p in self.projects],
                "merge_time": self.merge_time, "repo_state": self.repo_state}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MergeSpec:
        return cls(items=[MergeItem.from_dict(i) for i in data["items"]],
                   projects=[ProjectSpec.from_dict(p) for p in data["projects"]],
                   merge_time=int(data["merge_time"]),
                   repo_state={k: dict(v) for k, v in data.get("repo_state", {}).items()})


@dataclass
class MergeOutcome:
    """The prepared state: per project the commit checked out, and the base tips used."""

    commits: dict[str, str]
    repo_state: dict[str, dict[str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {"commits": dict(self.commits), "repo_state": self.repo_state}
