"""Reporting to GitHub: commit statuses, pull request comments, check runs, and merging.

A pipeline's reporter options (per outcome ``start``/``success``/``failure``) are Zuul's
GitHub reporter's: ``status``, ``comment``, ``check`` (Checks API: a check run per item and
pipeline, ``in_progress`` at start and ``completed`` with a conclusion at the end) and, on
``success`` of a dependent pipeline, ``merge`` (the pull request is merged through the API
with the head SHA that was tested; see :meth:`GitHubReporter.merge`). Calls go through
:class:`zuul.reporters.github_client.GitHubClient`.
"""
from __future__ import annotations

import logging
from typing import Any

from zuul.merger.model import GITHUB_MERGE_METHOD, MergeMode
from zuul.reporters.github_client import GitHubClient, MergeAnswer
from zuul.scheduler.model import SUCCESS, QueueItem

log = logging.getLogger(__name__)

STATES = {"start": "pending", "success": "success", "failure": "failure"}
# Check runs started and not completed yet (an item dequeued by an admin never completes).
MAX_OPEN_CHECK_RUNS = 10_000
DESCRIPTIONS = {"pending": "Build started", "success": "Build succeeded",
                "failure": "Build failed"}


def title(pipeline: str, item: QueueItem, action: str) -> str:
    """The one-line outcome: of the builds, or of the item itself (merge conflict...)."""
    if action == "start":
        return f"Build started ({pipeline} pipeline)"
    if item.error is not None:
        return f"{item.error[:1].upper()}{item.error[1:]}".split("\n")[0]
    return f"Build {'succeeded' if action == 'success' else 'failed'} ({pipeline} pipeline)."


def summary(tenant: str, pipeline: str, item: QueueItem, action: str) -> str:
    """The text of a report comment: the outcome and one line per job."""
    if action == "start":
        return f"Zuul started testing {item.change.id} in {tenant}/{pipeline}."
    if item.error is not None and not item.builds:
        return f"{title(pipeline, item, action)}\n\nNo jobs were run ({pipeline} pipeline)."
    word = "Build succeeded" if action == "success" else "Build failed"
    lines = [f"{word} ({pipeline} pipeline)."]
    if item.error is not None:
        lines.append(title(pipeline, item, action))
    lines.append("")
    for job in item.jobs:
        build = item.builds.get(job.name)
        result = build.result if build is not None else "SKIPPED"
        url = build.log_url if build is not None and build.log_url else ""
        voting = "" if job.voting else " (non-voting)"
        link = f"[{job.name}]({url})" if url else job.name
        lines.append(f"- {link} : {result}{voting}")
    return "\n".join(lines)


class GitHubReporter:
    """Reports items of one GitHub connection and merges their pull requests."""

    def __init__(self, name: str, conf: dict[str, Any]) -> None:
        self.name = name
        self.client = GitHubClient(conf)
        self.status_url = conf.get("status_url", "")
        self.context_prefix = conf.get("context_prefix", "zuul")
        self._check_runs: dict[tuple[str, str, str], int] = {}

    def _details_url(self, tenant: str, pipeline: str, item: QueueItem) -> str | None:
        change = item.change
        if not self.status_url:
            return None
        return self.status_url.format(tenant=tenant, pipeline=pipeline,
                                      buildset=item.buildset_uuid, change=change.number or "",
                                      sha=change.newrev)

    async def report(self, tenant: str, pipeline: str, item: QueueItem, action: str,
                     options: dict[str, Any]) -> None:
        """Report ``action`` (start/success/failure) of ``item`` as configured."""
        change = item.change
        details = self._details_url(tenant, pipeline, item)
        context = f"{self.context_prefix}/{pipeline}"
        # Zuul's order: the comment, then the commit status, then the check run.
        if options.get("comment", True) and change.number is not None:
            await self.client.comment(change.project, change.number,
                                      summary(tenant, pipeline, item, action))
        if options.get("status", True) and change.newrev:
            state = STATES[action]
            description = DESCRIPTIONS[state] if item.error is None else item.error[:140]
            await self.client.create_status(change.project, change.newrev, state, context,
                                            description, details)
        if options.get("check", False) and change.newrev:
            await self._check(tenant, pipeline, item, action, details)

    async def _check(self, tenant: str, pipeline: str, item: QueueItem, action: str,
                     details: str | None) -> None:
        change = item.change
        key = (change.project, change.newrev, pipeline)
        name = f"{self.context_prefix}/{pipeline}"
        text = summary(tenant, pipeline, item, action)
        heading = title(pipeline, item, action)
        if action == "start":
            self._check_runs[key] = await self.client.create_check_run(
                change.project, change.newrev, name, heading, text, details,
                item.buildset_uuid)
            while len(self._check_runs) > MAX_OPEN_CHECK_RUNS:  # dequeued, never completed
                self._check_runs.pop(next(iter(self._check_runs)))
            return
        conclusion = "success" if action == "success" else "failure"
        await self.client.complete_check_run(
            change.project, self._check_runs.pop(key, None), change.newrev, name, conclusion,
            heading, text, details, item.buildset_uuid)

    async def merge(self, item: QueueItem, merge_mode: str) -> MergeAnswer:
        """Merge ``item``'s pull request at the head SHA that was tested."""
        change = item.change
        if change.number is None:
            return MergeAnswer(True, 200, "not a pull request: nothing to merge")
        method = GITHUB_MERGE_METHOD[MergeMode(merge_mode)]
        answer = await self.client.merge(change.project, change.number, change.newrev,
                                         method, f"{change.title} (#{change.number})")
        log.info("Merge of %s#%s at %s (%s): %s %s", change.project, change.number,
                 change.newrev, method, answer.status, answer.message)
        return answer

    async def get_pull(self, project: str, number: int) -> dict[str, Any] | None:
        """Fetch a pull request (for comments, whose payload lacks the head sha)."""
        return await self.client.get_pull(project, number)

    async def ref_sha(self, project: str, ref: str) -> str | None:
        """The sha a branch or tag of ``project`` points at now (None: no such ref)."""
        return await self.client.ref_sha(project, ref)

    async def close(self) -> None:
        await self.client.close()

    @staticmethod
    def outcome(item: QueueItem) -> str:
        """``success`` or ``failure`` for a finished item."""
        return "success" if item.overall_result() == SUCCESS else "failure"
