"""The scheduler's gating steps: the merge check before builds, and merging on success.

:meth:`Gating.prepare` asks the merger for an item's future state (in a scratch work tree);
a conflict fails the item without a build. :meth:`Gating.merge` merges a passing head item
through its success reporters (``merge: true``); a refusal fails it. Both run as tasks and
change the item only if it still has the same buildset (a gate reset started it over).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from zuul.merger import MergeFailure, Merger
from zuul.merger.model import MergeSpec
from zuul.scheduler import speculative
from zuul.scheduler.model import MergeState, QueueItem, Tenant

log = logging.getLogger(__name__)


class Gating:
    """Merge checks and merges for one scheduler; its merger has its own repo cache."""

    def __init__(self, state_dir: Path) -> None:
        self.merger = Merger(state_dir / "merger" / "git")
        self.scratch = state_dir / "merger" / "work"

    async def prepare(self, tenant: Tenant, item: QueueItem) -> None:
        """Prepare ``item``'s future state; set READY (with the outcome) or fail the item."""
        buildset = item.buildset_uuid
        spec = speculative.merge_spec(tenant, item)
        if spec is None:
            item.merge_state = MergeState.READY
            return
        try:
            outcome = await self.merger.check(spec, self.scratch)
        except MergeFailure as exc:
            if item.buildset_uuid == buildset:
                log.info("Event %s: item %s cannot be merged: %s", item.event_id,
                         item.change.id, exc)
                item.merge_state = MergeState.FAILED
                item.error = f"merge conflict: {exc}" if exc.conflict else \
                    f"merge failed: {exc}"
            return
        if item.buildset_uuid != buildset:
            return
        item.merge_spec = MergeSpec(items=spec.items, projects=spec.projects,
                                    merge_time=spec.merge_time, repo_state=outcome.repo_state)
        item.merge_outcome = outcome
        item.merge_state = MergeState.READY
        log.info("Event %s: future state of %s ready: %s", item.event_id, item.change.id,
                 outcome.commits)

    async def merge(self, tenant: Tenant, item: QueueItem, reporters: dict[str, Any],
                    options: dict[str, dict[str, Any]]) -> None:
        """Merge ``item`` through each success reporter that merges; record the answer."""
        project = tenant.projects.get(item.change.project)
        mode = project.merge_mode if project is not None else "merge"
        merged = True
        for name, opts in options.items():
            reporter = reporters.get(name)
            if not opts.get("merge") or reporter is None:
                continue
            try:
                answer = await reporter.merge(item, mode)
            except Exception as exc:  # noqa: BLE001 - an unreachable GitHub refuses too
                log.warning("Event %s: merge of %s failed: %s", item.event_id,
                            item.change.id, exc)
                item.error = f"merge failed: {exc}"
                merged = False
                break
            if not answer.merged:
                item.error = f"merge failed: GitHub answered {answer.status}: {answer.message}"
                merged = False
                break
        item.merged = merged
        item.merging = False
