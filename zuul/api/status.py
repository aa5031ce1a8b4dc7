"""Zuul's status.json, built from the live pipelines (``/api/tenant/{t}/status``)."""
from __future__ import annotations

import time
from typing import Any

import zuul
from zuul.scheduler.model import QueueItem
from zuul.scheduler.scheduler import Scheduler


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if seconds is not None else None


def _waiting_job(item: QueueItem, job: Any, estimated: float | None) -> dict[str, Any]:
    return {
        "name": job.name, "uuid": None, "url": None, "report_url": None, "result": None,
        "voting": job.voting, "start_time": None, "end_time": None, "elapsed_time": None,
        "remaining_time": None, "estimated_time": _ms(estimated), "node_labels": job.nodeset,
        "canceled": False, "retry": False, "queued": False, "tries": 1,
        "waiting_status": None, "pipeline": item.pipeline, "paused": False}


def _job(item: QueueItem, job: Any, estimates: dict[tuple[str, str], float],
         now: float) -> dict[str, Any]:
    build = item.builds.get(job.name)
    if build is None:
        return _waiting_job(item, job, estimates.get((item.change.project, job.name)))
    estimated = estimates.get((item.change.project, job.name))
    start = build.start_time if build is not None else None
    end = build.end_time if build is not None else None
    elapsed = ((end or now) - start) if start is not None else None
    remaining = None
    if estimated is not None and build is not None and build.result is None:
        remaining = max(0.0, estimated - (elapsed or 0.0))
    uuid = build.uuid if build is not None else None
    return {
        "name": job.name, "uuid": uuid,
        "url": f"stream/{uuid}?logfile=console.log" if uuid else None,
        "report_url": build.log_url if build is not None and build.result else None,
        "result": build.result if build is not None else None,
        "voting": job.voting, "start_time": start, "end_time": end,
        "elapsed_time": _ms(elapsed), "remaining_time": _ms(remaining),
        "estimated_time": _ms(estimated), "node_labels": job.nodeset,
        "canceled": bool(build and build.canceled), "retry": bool(build and build.retry),
        "queued": build is not None and build.start_time is None, "tries": 1,
        "waiting_status": build.waiting if build is not None and build.result is None
        else None,
        "pipeline": item.pipeline, "paused": False,
    }


def item_dict(item: QueueItem, ahead: QueueItem | None, behind: list[QueueItem],
              estimates: dict[tuple[str, str], float], now: float) -> dict[str, Any]:
    """One item of status.json."""
    change = item.change
    jobs = [_job(item, job, estimates, now) for job in item.jobs]
    remaining = [j["remaining_time"] for j in jobs if j["result"] is None]
    return {
        "id": change.id, "url": change.url or None, "project": change.project,
        "project_canonical": f"github.com/{change.project}", "ref": change.ref,
        "branch": change.branch or None, "live": item.live, "active": item.active,
        "enqueue_time": _ms(item.enqueue_time),
        "item_ahead": ahead.change.id if ahead is not None else None,
        "items_behind": [b.change.id for b in behind],
        "failing_reasons": item.failing_reasons(),
        "remaining_time": (max(remaining) if remaining and None not in remaining
                           else (0 if not remaining else None)),
        "zuul_ref": f"Z{item.buildset_uuid}", "owner": None, "jobs": jobs,
        # What the builds check out: the future state's commit per project (doc/gating.rst).
        "future_state": dict(item.merge_outcome.commits) if item.merge_outcome else {},
    }


def pipeline_dict(scheduler: Scheduler, tenant: str, name: str,
                  now: float) -> dict[str, Any]:
    """One pipeline of status.json with its change queues."""
    manager = scheduler.managers[tenant][name]
    estimates = scheduler.estimates.get(tenant, {})
    queues = []
    for queue in manager.queues:
        if manager.config.dependent:
            items = queue.items
            head = [item_dict(item, items[i - 1] if i else None, items[i + 1:i + 2],
                              estimates, now) for i, item in enumerate(items)]
            heads = [head] if head else []
        else:
            heads = [[item_dict(item, None, [], estimates, now)] for item in queue.items]
        queues.append({"name": queue.name, "window": queue.window, "heads": heads})
    return {"name": name, "description": manager.config.description,
            "manager": manager.config.manager, "trigger_events": 0, "result_events": 0,
            "management_events": 0, "change_queues": queues}


def status_document(scheduler: Scheduler, tenant: str) -> dict[str, Any]:
    """Zuul's status.json for ``tenant``."""
    now = time.time()
    return {
        "zuul_version": zuul.__version__,
        "last_reconfigured": _ms(scheduler.last_reconfigured),
        "trigger_event_queue": {"length": scheduler.trigger_events_pending},
        "result_event_queue": {"length": scheduler.results_pending},
        "management_event_queue": {"length": 0},
        "pipelines": [pipeline_dict(scheduler, tenant, name, now)
                      for name in scheduler.managers.get(tenant, {})],
    }


def change_items(document: dict[str, Any], change: str) -> list[dict[str, Any]]:
    """Items of a status document whose id is ``change`` or starts with ``change,``."""
    found = []
    for pipeline in document["pipelines"]:
        for queue in pipeline["change_queues"]:
            for head in queue["heads"]:
                found.extend(i for i in head
                             if i["id"] == change or i["id"].startswith(change + ","))
    return found
