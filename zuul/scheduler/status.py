"""Zuul's status.json, built from the live pipelines (``/api/tenant/{t}/status``).

Shapes follow Zuul 14 (``zuul/manager/__init__.py`` formatStatusJSON and ``QueueItem.formatJSON``
in ``zuul/model.py``): times in ms except ``estimated_time`` (seconds) and ``start_time``/
``end_time`` (epoch seconds). For our own clients an item keeps ``id`` (the change id),
``project`` and ``ref`` beside Zuul's ``refs[]``.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import zuul
from zuul.scheduler.model import QueueItem

if TYPE_CHECKING:
    from zuul.scheduler.scheduler import Scheduler

PIPELINE_STATE_NORMAL = "normal"


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if seconds is not None else None


def _job(item: QueueItem, job: Any, estimates: dict[tuple[str, str], float],
         now: float, waiting: str | None) -> dict[str, Any]:
    build = item.builds.get(job.name)
    estimated = estimates.get((item.change.project, job.name))
    start = build.start_time if build is not None else None
    end = build.end_time if build is not None else None
    elapsed = ((end or now) - start) if start is not None else None
    remaining = None
    if build is not None and start is not None:
        if end is not None:
            remaining = 0.0
        elif estimated is not None:
            remaining = max(0.0, estimated - (elapsed or 0.0))
    uuid = build.uuid if build is not None else None
    return {
        "name": job.name, "uuid": uuid,
        "dependencies": list(getattr(job, "dependencies", [])),
        "url": f"stream/{uuid}?logfile=console.log" if uuid else None,
        "report_url": build.log_url if build is not None and build.result else None,
        "result": build.result if build is not None else None,
        "voting": job.voting, "execute_time": start, "start_time": start, "end_time": end,
        "elapsed_time": _ms(elapsed), "remaining_time": _ms(remaining),
        "estimated_time": round(estimated, 3) if estimated is not None else None,
        "node_labels": job.nodeset,
        "pipeline": item.pipeline if build is not None else None,
        "canceled": bool(build and build.canceled) if build is not None else None,
        "paused": False if build is not None else None,
        "pre_fail": False if build is not None else None,
        "retry": bool(build and build.retry) if build is not None else None,
        "snapshotting": False if build is not None else None,
        "queued": build is not None and build.start_time is None, "tries": 1,
        "waiting_status": waiting if elapsed is None else None,
    }


def _waiting(item: QueueItem, job: Any, semaphore_wait: set[str]) -> str | None:
    build = item.builds.get(job.name)
    if build is None:
        deps = [d for d in getattr(job, "dependencies", [])
                if (item.builds.get(d) is None or item.builds[d].result is None)]
        if deps:
            return "dependencies: " + ", ".join(deps)
        return "waiting to start"
    if build.result is None and getattr(build, "waiting", None):
        return str(build.waiting)
    if build.start_time is None:
        return "node request"
    if job.name in semaphore_wait:
        return "semaphores"
    return None


def item_dict(item: QueueItem, ahead: QueueItem | None, behind: list[QueueItem],
              estimates: dict[tuple[str, str], float], now: float) -> dict[str, Any]:
    """One item of status.json."""
    change = item.change
    jobs = [_job(item, job, estimates, now, _waiting(item, job, set())) for job in item.jobs]
    remaining = [j["remaining_time"] for j in jobs]
    started = all(j["start_time"] is not None for j in jobs)
    canonical = f"github.com/{change.project}"
    return {
        # As Zuul: ``id`` is the item's own uuid (stable across gate resets) and the change
        # is in ``refs``; ``item_ahead``/``items_behind`` name items by that uuid.
        "id": item.uuid, "uuid": item.buildset_uuid, "url": change.url or None,
        "project": change.project, "project_canonical": canonical, "ref": change.ref,
        "branch": change.branch or None, "live": item.live, "active": item.active,
        "refs": [{"id": change.id, "url": change.url or None, "ref": change.ref,
                  "project": change.project, "project_canonical": canonical,
                  "branch": change.branch or None, "change": change.number,
                  "patchset": change.patchset, "oldrev": change.oldrev or None,
                  "newrev": change.newrev or None, "owner": None}],
        "enqueue_time": _ms(item.enqueue_time),
        "item_ahead": ahead.uuid if ahead is not None else None,
        "items_behind": [b.uuid for b in behind],
        "failing_reasons": item.failing_reasons(),
        "remaining_time": max([r for r in remaining if r is not None], default=0)
        if started else None,
        "zuul_ref": f"Z{item.buildset_uuid}", "owner": None, "jobs": jobs,
        # What the builds check out: the future state's commit per project (doc/gating.rst).
        "future_state": dict(item.merge_outcome.commits) if item.merge_outcome else {},
    }


def dependent_heads(items: list[QueueItem], estimates: dict[tuple[str, str], float],
                    now: float) -> list[list[dict[str, Any]]]:
    """A dependent queue's heads, told by what each item is tested on (its base).

    ``item_ahead`` is the item whose future state this one is built on (not merely the one
    before it in the queue: a failing item ahead is left out of the items behind it), and a
    new head starts wherever that is not the previous item (doc/gating.rst).
    """
    aheads = [item.base if item.base_set else (items[index - 1] if index else None)
              for index, item in enumerate(items)]
    heads: list[list[dict[str, Any]]] = []
    previous: QueueItem | None = None
    for index, item in enumerate(items):
        ahead = aheads[index]
        behind = [other for j, other in enumerate(items) if aheads[j] is item]
        if not heads or ahead is not previous:
            heads.append([])
        heads[-1].append(item_dict(item, ahead, behind, estimates, now))
        previous = item
    return heads


def pipeline_dict(scheduler: Scheduler, tenant: str, name: str,
                  now: float) -> dict[str, Any]:
    """One pipeline of status.json with its change queues."""
    manager = scheduler.managers[tenant][name]
    estimates = scheduler.estimates.get(tenant, {})
    queues = []
    for queue in manager.queues:
        if manager.config.dependent:
            heads = dependent_heads(queue.items, estimates, now)
        else:
            heads = [[item_dict(item, None, [], estimates, now)] for item in queue.items]
        branches = {i.change.branch for i in queue.items if i.change.branch}
        queues.append({"name": queue.name, "window": queue.window, "heads": heads,
                       "branch": branches.pop() if len(branches) == 1 else None})
    return {"name": name, "description": manager.config.description,
            "state": PIPELINE_STATE_NORMAL, "manager": manager.config.manager,
            "triggers": [{"driver": "github"} for _ in manager.config.triggers],
            "trigger_events": 0, "result_events": 0,
            "management_events": 0, "change_queues": queues}


def status_document(scheduler: Scheduler, tenant: str) -> dict[str, Any]:
    """Zuul's status.json for ``tenant``."""
    now = time.time()
    return {
        "zuul_version": zuul.__version__,
        "last_reconfigured": _ms(scheduler.last_reconfigured),
        "state": scheduler.event_state(tenant),
        "trigger_event_queue": {"length": scheduler.trigger_events_pending},
        "result_event_queue": {"length": scheduler.results_pending},
        "management_event_queue": {"length": 0},
        "connection_event_queues": {},
        "pipelines": [pipeline_dict(scheduler, tenant, name, now)
                      for name in scheduler.managers.get(tenant, {})],
    }
