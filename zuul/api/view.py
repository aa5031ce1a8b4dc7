"""What the API may see of, and ask of, the scheduler: a narrow interface.

``zuul.api`` never imports ``zuul.scheduler``: the scheduler service hands the routes an
:class:`APIContext` whose ``view`` (read-only) and ``control`` (admin actions) implement the
protocols below (``zuul.scheduler.apiview``). Layout objects (tenants, projects, jobs,
pipelines) are the scheduler's read-only model objects; the API reads their documented
attributes only (see ``zuul.scheduler.model``).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from zuul.db.history import BuildHistory
from zuul.lib.auth import Authenticator
from zuul.lib.web import SnapshotCache


class SchedulerView(Protocol):
    """Read-only questions about the layout and the live pipelines."""

    def tenant_names(self) -> list[str]:
        """Every tenant, sorted."""

    def tenant(self, name: str) -> Any | None:
        """The tenant's layout (``Tenant``), or None."""

    def queued(self, tenant: str) -> int:
        """How many items are queued in the tenant's pipelines."""

    def status(self, tenant: str) -> dict[str, Any]:
        """Zuul's status.json for the tenant."""

    def config_errors(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's configuration errors, in Zuul's ``config-errors`` shape."""

    def event_processing(self, tenant: str) -> dict[str, Any]:
        """``{"trigger_queue_paused": bool, "result_queue_paused": bool}`` and counts."""

    def live_builds(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Build uuid -> ``pipeline``, ``buildset_uuid``, ``job_name`` of queued builds."""

    def semaphore_holders(self, tenant: str) -> dict[str, list[dict[str, str]]]:
        """Semaphore name -> its holders now (``job_name``, ``buildset_uuid``)."""

    def freeze(self, tenant: str, pipeline: str, project: str,
               branch: str) -> list[dict[str, Any]] | None:
        """The frozen job graph for a project in a pipeline (None: nothing runs there)."""


class SchedulerControl(Protocol):
    """Admin actions; each returns once the scheduler accepted it."""

    async def resolve_change(self, tenant: str, project: str, spec: str) -> Any | None:
        """The change a ``N`` or ``N,sha`` spec names (asks GitHub if unknown), or None."""

    async def resolve_ref(self, tenant: str, project: str, ref: str) -> str | None:
        """The sha a branch or tag ref points at now (asks GitHub), or None."""

    def ref_change(self, tenant: str, project: str, ref: str, oldrev: str,
                   newrev: str) -> Any:
        """A change object for a pushed ref."""

    def enqueue(self, tenant: str, pipeline: str, change: Any) -> str:
        """Enqueue ``change``: ``"enqueued"``, ``"already-queued"`` or ``"no-jobs"``."""

    def dequeue(self, tenant: str, pipeline: str, project: str, spec: str) -> int:
        """Dequeue the items matching ``spec``; how many there were."""

    def promote(self, tenant: str, pipeline: str, specs: list[str]) -> str | None:
        """Promote the named changes; the first spec not found, else None."""

    async def reconfigure(self) -> None:
        """Reload the tenant config (raises ``ConfigError``)."""

    def set_event_processing(self, tenant: str, trigger: bool | None,
                             result: bool | None) -> None:
        """Pause (False) or resume (True) trigger/result event processing; None: unchanged."""


@dataclass
class APIContext:
    """Everything a route module may use."""

    view: SchedulerView
    control: SchedulerControl
    history: BuildHistory
    snapshots: SnapshotCache
    auth: Callable[[], Authenticator | None]
    info: Callable[[str, str | None], dict[str, Any]]
    base_url: Callable[[web.Request], str]
    nodes: Callable[[], Any]
    extra: dict[str, Any]
    components: Callable[[], Awaitable[dict[str, list[dict[str, Any]]]]] | None = None
