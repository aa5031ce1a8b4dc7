"""Every call this project makes to GitHub, through githubkit (a maintained GitHub SDK).

Authentication is a personal/bot token (``token``) or a GitHub App (``app_id`` + ``app_key``,
the path of the App's PEM private key, as in Zuul's GitHub driver). As an App, the client
finds the installation of each repository (``GET /repos/{o}/{r}/installation``, with the App's
JWT) and calls as that installation; githubkit requests installation tokens and renews them
one minute before GitHub's ``expires_at``. The base URL is configurable (GitHub Enterprise:
``https://ghe.example.org/api/v3``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.exception import GitHubException, RequestFailed

log = logging.getLogger(__name__)

TIMEOUT = 30.0


@dataclass
class MergeAnswer:
    """GitHub's answer to a merge: merged, or why not (its status code and message)."""

    merged: bool
    status: int = 200
    message: str = ""
    sha: str = ""


def _split(project: str) -> tuple[str, str]:
    owner, _, repo = project.partition("/")
    return owner, repo


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubClient:
    """One GitHub connection: token or App credentials and the API base URL."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.api_url = conf.get("api_url", "https://api.github.com").rstrip("/") + "/"
        self.token = conf.get("token", "")
        self.app_id = conf.get("app_id")
        key_path = conf.get("app_key")
        self.app_key = Path(key_path).read_text() if key_path else ""
        self._installations: dict[str, int] = {}
        self._clients: dict[int, GitHub[Any]] = {}

    def _github(self, auth: Any) -> GitHub[Any]:
        return GitHub(auth, base_url=self.api_url, user_agent="zuul-scheduler",
                      timeout=TIMEOUT, http_cache=False, trust_env=False)

    async def _client(self, project: str) -> GitHub[Any]:
        """A client for calls about ``project`` (as its App installation, or the token)."""
        if not self.app_id:
            if 0 not in self._clients:
                self._clients[0] = self._github(TokenAuthStrategy(self.token) if self.token
                                                else None)
            return self._clients[0]
        installation = self._installations.get(project)
        if installation is None:
            app = self._github(AppAuthStrategy(str(self.app_id), self.app_key))
            response = await app.rest.apps.async_get_repo_installation(*_split(project))
            installation = int(response.json()["id"])
            self._installations[project] = installation
        if installation not in self._clients:
            self._clients[installation] = self._github(AppInstallationAuthStrategy(
                str(self.app_id), self.app_key, installation))
        return self._clients[installation]

    async def get_pull(self, project: str, number: int) -> dict[str, Any] | None:
        """The pull request as GitHub's JSON, or None when GitHub has none."""
        github = await self._client(project)
        try:
            response = await github.rest.pulls.async_get(*_split(project), number)
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return None
            raise
        data: Any = response.json()
        return data if isinstance(data, dict) else None

    async def ref_sha(self, project: str, ref: str) -> str | None:
        """The commit a ``refs/heads/<branch>`` (GitHub's "Get a branch") or the object a
        ``refs/tags/<tag>`` ("Get a reference") points at now; None when GitHub has none."""
        github = await self._client(project)
        try:
            if ref.startswith("refs/heads/"):
                branch = await github.rest.repos.async_get_branch(
                    *_split(project), ref.removeprefix("refs/heads/"))
                return str(branch.json()["commit"]["sha"])
            if ref.startswith("refs/tags/"):
                tag = await github.rest.git.async_get_ref(
                    *_split(project), ref.removeprefix("refs/"))
                found: Any = tag.json()  # GitHub's JSON (githubkit names the key object_)
                return str(found["object"]["sha"])
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return None
            raise
        return None

    async def create_status(self, project: str, sha: str, state: str, context: str,
                            description: str, target_url: str | None) -> None:
        github = await self._client(project)
        extra = {"target_url": target_url} if target_url else {}
        # ``state`` is one of GitHub's status states (the caller's str, not githubkit's Literal).
        await github.rest.repos.async_create_commit_status(  # type: ignore[call-overload]
            *_split(project), sha, state=state, context=context,
            description=description, **extra)

    async def comment(self, project: str, number: int, body: str) -> None:
        github = await self._client(project)
        await github.rest.issues.async_create_comment(*_split(project), number, body=body)

    async def create_check_run(self, project: str, sha: str, name: str, title: str,
                               summary: str, details_url: str | None,
                               external_id: str) -> int:
        """Start an ``in_progress`` check run; return its id."""
        github = await self._client(project)
        extra = {"details_url": details_url} if details_url else {}
        # githubkit types ``started_at`` as a datetime; GitHub takes (and we send) ISO 8601 text.
        response = await github.rest.checks.async_create(  # type: ignore[call-overload]
            *_split(project), data={"name": name, "head_sha": sha, "status": "in_progress",
                                    "external_id": external_id, "started_at": _now(),
                                    "output": {"title": title, "summary": summary}, **extra})
        return int(response.json()["id"])

    async def complete_check_run(self, project: str, check_run_id: int | None, sha: str,
                                 name: str, conclusion: str, title: str, summary: str,
                                 details_url: str | None, external_id: str) -> None:
        """Complete a check run (creating it completed if it was never started)."""
        github = await self._client(project)
        body: dict[str, Any] = {"status": "completed", "conclusion": conclusion,
                                "completed_at": _now(), "external_id": external_id,
                                "output": {"title": title, "summary": summary}}
        if details_url:
            body["details_url"] = details_url
        # githubkit types ``data`` as TypedDicts with Literal states and datetime times; ``body``
        # is the same JSON with the caller's str conclusion and ISO 8601 text.
        if check_run_id is None:
            await github.rest.checks.async_create(  # type: ignore[call-overload]
                *_split(project), data={"name": name, "head_sha": sha, **body})
        else:
            await github.rest.checks.async_update(  # type: ignore[call-overload]
                *_split(project), check_run_id, data=body)

    async def merge(self, project: str, number: int, sha: str, method: str,
                    title: str) -> MergeAnswer:
        """``PUT .../pulls/{n}/merge`` with the tested head ``sha``; 405/409 are answers."""
        github = await self._client(project)
        try:
            # ``method`` is merge, squash or rebase (a str from config, not githubkit's Literal).
            response = await github.rest.pulls.async_merge(  # type: ignore[call-overload]
                *_split(project), number, sha=sha, merge_method=method,
                commit_title=title)
        except RequestFailed as exc:
            status = exc.response.status_code
            try:
                message = str(exc.response.json().get("message", ""))
            except (ValueError, AttributeError):
                message = exc.response.text[:200]
            return MergeAnswer(False, status, message or f"HTTP {status}")
        except GitHubException as exc:
            return MergeAnswer(False, 0, str(exc))
        data = response.json()
        return MergeAnswer(bool(data.get("merged")), response.status_code,
                           str(data.get("message", "")), str(data.get("sha", "")))

    async def close(self) -> None:
        """Nothing is held open between calls (githubkit opens a client per call)."""
        self._clients.clear()
