"""Reporting to GitHub through its REST API: commit statuses and pull request comments.

``POST {api_url}/repos/{owner}/{repo}/statuses/{sha}`` with ``state`` pending/success/failure
and ``POST {api_url}/repos/{owner}/{repo}/issues/{number}/comments``, token auth. The base URL
is configurable (GitHub Enterprise: ``https://ghe.example.org/api/v3``).
"""
from __future__ import annotations

import logging
from typing import Any

import aiohttp

from zuul.scheduler.model import SUCCESS, QueueItem

log = logging.getLogger(__name__)

STATES = {"start": "pending", "success": "success", "failure": "failure"}


def summary(tenant: str, pipeline: str, item: QueueItem, action: str) -> str:
    """The text of a report comment: the outcome and one line per job."""
    if action == "start":
        return f"Zuul started testing {item.change.id} in {tenant}/{pipeline}."
    title = "Build succeeded" if action == "success" else "Build failed"
    lines = [f"{title} ({pipeline} pipeline).", ""]
    for job in item.jobs:
        build = item.builds.get(job.name)
        result = build.result if build is not None else "SKIPPED"
        url = build.log_url if build is not None and build.log_url else ""
        voting = "" if job.voting else " (non-voting)"
        link = f"[{job.name}]({url})" if url else job.name
        lines.append(f"- {link} : {result}{voting}")
    return "\n".join(lines)


class GitHubReporter:
    """Posts statuses and comments for one GitHub connection."""

    def __init__(self, name: str, conf: dict[str, Any]) -> None:
        self.name = name
        self.api_url = conf.get("api_url", "https://api.github.com").rstrip("/")
        self.token = conf.get("token", "")
        self.status_url = conf.get("status_url", "")
        self.context_prefix = conf.get("context_prefix", "zuul")
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "User-Agent": "zuul-scheduler"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return headers

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers(), timeout=aiohttp.ClientTimeout(total=30))
        async with self._session.post(self.api_url + path, json=body) as response:
            if response.status >= 300:
                text = (await response.text())[:200]
                log.warning("GitHub %s %s answered %s: %s", self.name, path,
                            response.status, text)

    async def report(self, tenant: str, pipeline: str, item: QueueItem, action: str,
                     options: dict[str, Any]) -> None:
        """Report ``action`` (start/success/failure) of ``item`` as configured."""
        change = item.change
        if options.get("status", True) and change.newrev:
            state = STATES[action]
            description = {"pending": "Build started", "success": "Build succeeded",
                           "failure": "Build failed"}[state]
            body = {"state": state, "context": f"{self.context_prefix}/{pipeline}",
                    "description": description}
            if self.status_url:
                body["target_url"] = self.status_url.format(
                    tenant=tenant, pipeline=pipeline, buildset=item.buildset_uuid,
                    change=change.number or "", sha=change.newrev)
            await self._post(f"/repos/{change.project}/statuses/{change.newrev}", body)
        if options.get("comment", True) and change.number is not None:
            await self._post(f"/repos/{change.project}/issues/{change.number}/comments",
                             {"body": summary(tenant, pipeline, item, action)})

    async def get_pull(self, project: str, number: int) -> dict[str, Any] | None:
        """Fetch a pull request (for comments, whose payload lacks the head sha)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers(), timeout=aiohttp.ClientTimeout(total=30))
        async with self._session.get(f"{self.api_url}/repos/{project}/pulls/{number}") as resp:
            if resp.status != 200:
                return None
            data = await resp.json()
            return data if isinstance(data, dict) else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def outcome(item: QueueItem) -> str:
        """``success`` or ``failure`` for a finished item."""
        return "success" if item.overall_result() == SUCCESS else "failure"
