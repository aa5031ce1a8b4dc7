"""The scheduler's side of ``zuul.api.view``: what the REST API may read and ask.

:class:`SchedulerAPIView` implements both ``SchedulerView`` (read-only) and
``SchedulerControl`` (admin actions) over a :class:`Scheduler`, so the API never touches the
scheduler's internals and ``zuul.api`` does not import ``zuul.scheduler``.
"""
from __future__ import annotations

from typing import Any

from zuul.scheduler.model import Change, Tenant
from zuul.scheduler.scheduler import Scheduler
from zuul.scheduler.status import status_document
from zuul.scheduler.triggers import change_from_pull_request


class SchedulerAPIView:
    """A narrow view of one :class:`Scheduler` for the API routes."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    # SchedulerView ------------------------------------------------------------------------

    def tenant_names(self) -> list[str]:
        return sorted(self._scheduler.tenants)

    def tenant(self, name: str) -> Tenant | None:
        return self._scheduler.tenants.get(name)

    def queued(self, tenant: str) -> int:
        return sum(len(m.items) for m in self._scheduler.managers.get(tenant, {}).values())

    def status(self, tenant: str) -> dict[str, Any]:
        return status_document(self._scheduler, tenant)

    def config_errors(self, tenant: str) -> list[dict[str, Any]]:
        layout = self._scheduler.tenants.get(tenant)
        return list(layout.errors) if layout is not None else []

    def event_processing(self, tenant: str) -> dict[str, Any]:
        return self._scheduler.event_state(tenant)

    def live_builds(self, tenant: str) -> dict[str, dict[str, Any]]:
        found = {}
        for manager in self._scheduler.managers.get(tenant, {}).values():
            for item in manager.items:
                for build in item.builds.values():
                    found[build.uuid] = {"pipeline": item.pipeline,
                                         "buildset_uuid": build.buildset_uuid,
                                         "job_name": build.job.name}
        return found

    def semaphore_holders(self, tenant: str) -> dict[str, list[dict[str, str]]]:
        return self._scheduler.semaphores.holders(tenant)

    def freeze(self, tenant: str, pipeline: str, project: str,
               branch: str) -> list[dict[str, Any]] | None:
        layout = self._scheduler.tenants.get(tenant)
        if layout is None or project not in layout.projects:
            return None
        names = layout.projects[project].pipelines.get(pipeline)
        if not names:
            return None
        return [{"name": n, "dependencies": [
            {"name": d, "soft": False} for d in layout.jobs[n].dependencies]}
            for n in names]

    # SchedulerControl ---------------------------------------------------------------------

    async def resolve_change(self, tenant: str, project: str, spec: str) -> Change | None:
        number, _, sha = spec.partition(",")
        known = self._scheduler.known_changes.get((project, int(number)))
        if known is not None and (not sha or sha == known.newrev):
            return known
        layout = self._scheduler.tenants[tenant]
        connection = layout.projects[project].connection
        if sha:
            return Change(project=project, connection=connection,
                          ref=f"refs/pull/{number}/head", newrev=sha, number=int(number))
        reporter = self._scheduler.reporters.get(connection)
        pull = await reporter.get_pull(project, int(number)) if reporter else None
        if pull is None or reporter is None:
            return None
        change = change_from_pull_request(reporter.name, project, pull)
        if change.number is not None:
            self._scheduler.known_changes[(project, change.number)] = change
        return change

    async def resolve_ref(self, tenant: str, project: str, ref: str) -> str | None:
        connection = self._scheduler.tenants[tenant].projects[project].connection
        reporter = self._scheduler.reporters.get(connection)
        return await reporter.ref_sha(project, ref) if reporter is not None else None

    def ref_change(self, tenant: str, project: str, ref: str, oldrev: str,
                   newrev: str) -> Change:
        connection = self._scheduler.tenants[tenant].projects[project].connection
        return Change(project=project, connection=connection, ref=ref, oldrev=oldrev,
                      newrev=newrev, branch=ref.removeprefix("refs/heads/"))

    def enqueue(self, tenant: str, pipeline: str, change: Any) -> str:
        layout = self._scheduler.tenants[tenant]
        if not layout.projects[change.project].pipelines.get(pipeline):
            return "no-jobs"
        if self._scheduler.enqueue(tenant, pipeline, change, "admin") is None:
            return "already-queued"
        return "enqueued"

    def dequeue(self, tenant: str, pipeline: str, project: str, spec: str) -> int:
        items = self._scheduler.find_items(tenant, pipeline, project, spec)
        if items:
            self._scheduler.dequeue(tenant, pipeline, items)
        return len(items)

    def promote(self, tenant: str, pipeline: str, specs: list[str]) -> str | None:
        manager = self._scheduler.managers[tenant][pipeline]
        items = []
        for spec in specs:
            found = manager.find(lambda c, s=spec: c.matches(s))  # type: ignore[misc]
            if not found:
                return spec
            items.extend(found)
        self._scheduler.promote(tenant, pipeline, items)
        return None

    async def reconfigure(self) -> None:
        await self._scheduler.reconfigure()

    def set_event_processing(self, tenant: str, trigger: bool | None,
                             result: bool | None) -> None:
        self._scheduler.set_event_state(tenant, trigger, result)
