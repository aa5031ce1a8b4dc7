"""An item's speculative future state: the merger spec, and the build parameters about it.

The future state of an item is its project's branch tip plus every item ahead of it in its
change queue (its chain of bases) plus the changes it needs (Depends-On) plus its own change,
in that order. :func:`merge_spec` describes it for :class:`zuul.merger.Merger`;
:func:`build_params` is what a build request carries so an executor anywhere prepares the
same state (``doc/internals.rst``).
"""
from __future__ import annotations

import time
from typing import Any

from zuul.merger import MergeItem, MergeSpec, ProjectSpec
from zuul.merger.model import project_vars
from zuul.scheduler.model import Change, Job, QueueItem, Tenant


def chain(item: QueueItem) -> list[QueueItem]:
    """The items ahead of ``item`` it is tested on (nearest last), then ``item`` itself."""
    bases = []
    base = item.base
    while base is not None:
        bases.append(base)
        base = base.base
    return list(reversed(bases)) + [item]


def changes(item: QueueItem) -> list[Change]:
    """Every change of the future state, in merge order, without repeats."""
    result: list[Change] = []
    for queued in chain(item):
        for change in [*queued.needs, queued.change]:
            if not any(c.project == change.project and c.ref == change.ref for c in result):
                result.append(change)
    return result


def _merge_item(tenant: Tenant, change: Change) -> MergeItem | None:
    project = tenant.projects.get(change.project)
    if project is None or not project.git_url:
        return None
    return MergeItem(project=change.project, git_url=project.git_url, branch=change.branch,
                     ref=change.ref, newrev=change.newrev, number=change.number,
                     merge_mode=project.merge_mode, title=change.title)


def merge_spec(tenant: Tenant, item: QueueItem) -> MergeSpec | None:
    """The merger's spec for ``item``; None when no project involved has a git URL."""
    items = [m for m in (_merge_item(tenant, c) for c in changes(item)) if m is not None]
    names = [c.project for c in changes(item)]
    for job in item.jobs:
        names += job.required_projects
    projects: list[ProjectSpec] = []
    branch = item.change.branch or "main"
    for name in dict.fromkeys(names):
        project = tenant.projects.get(name)
        if project is None or not project.git_url:
            continue
        own = [m.branch for m in items if m.project == name]
        projects.append(ProjectSpec(name=name, git_url=project.git_url,
                                    branch=own[-1] if own else branch))
    if not projects:
        return None
    return MergeSpec(items=items, projects=projects, merge_time=int(time.time()))


def items_vars(item: QueueItem) -> list[dict[str, Any]]:
    """``zuul.items``: every change of the future state, as in Zuul."""
    return [{"project": project_vars(c.project), "branch": c.branch,
             "change": str(c.number) if c.number is not None else None,
             "change_url": c.url or None, "patchset": c.patchset, "commit_id": c.newrev,
             "ref": c.ref} for c in changes(item)]


def build_params(item: QueueItem, job: Job) -> dict[str, Any] | None:
    """The ``merge`` parameter of a build request: the spec pinned to the merger's outcome.

    ``{"items": [...], "projects": [...], "merge_time": int, "repo_state": {...},
    "expected": {project: sha}, "required": [project]}``: the executor prepares this state
    and refuses to run the playbook on anything else than the ``expected`` commits.
    Projects are the item's projects plus the job's ``required-projects``.
    """
    spec = item.merge_spec
    if spec is None:
        return None
    wanted = {c.project for c in changes(item)} | set(job.required_projects)
    params = MergeSpec(items=spec.items,
                       projects=[p for p in spec.projects if p.name in wanted],
                       merge_time=spec.merge_time, repo_state=spec.repo_state).to_dict()
    commits = item.merge_outcome.commits if item.merge_outcome is not None else {}
    params["expected"] = {p: sha for p, sha in commits.items() if p in wanted}
    params["required"] = list(job.required_projects)
    return params
