"""Preparing speculative future states with the git CLI.

:class:`Merger` keeps one cached clone per project under ``cache_root`` (created once, then
only fetched). :meth:`Merger.prepare` makes a work tree per project (``git clone --shared``
of the cache, no objects copied; or a self-contained copy for a job's work dir), checks out
the branch tip and applies every item of that project and branch in queue order with the
item's merge mode. A change that does not apply raises :class:`MergeFailure` (``conflict``
true) naming it.
"""
from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from pathlib import Path

from zuul.merger.git import GitError, git, git_env
from zuul.merger.model import MergeItem, MergeMode, MergeOutcome, MergeSpec, ProjectSpec

log = logging.getLogger(__name__)


class MergeFailure(Exception):
    """The future state cannot be prepared: a conflict (``conflict``) or a git problem."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def _cache_name(project: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", project) + ".git"


class Merger:
    """A per-process merger with a repository cache that is updated, never re-cloned."""

    def __init__(self, cache_root: Path, self_contained: bool = False) -> None:
        self.cache_root = Path(cache_root)
        # Work trees for jobs copy the objects they need (a sandboxed job cannot see the
        # cache, and must not share its files); the scheduler's scratch trees borrow them.
        self.self_contained = self_contained
        self._locks: dict[str, asyncio.Lock] = {}
        self.clones = 0
        self.fetches = 0

    def _lock(self, project: str) -> asyncio.Lock:
        return self._locks.setdefault(project, asyncio.Lock())

    async def _update(self, project: ProjectSpec, items: list[MergeItem],
                      pinned: dict[str, str]) -> Path:
        """The project's cache, fetched unless every commit needed is already there."""
        cache = self.cache_root / _cache_name(project.name)
        async with self._lock(project.name):
            if not (cache / "HEAD").exists():
                self.cache_root.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.cache_root))
                await git(["clone", "--quiet", "--bare", "--no-tags", project.git_url,
                           str(tmp / "repo")], self.cache_root)
                await git(["config", "remote.origin.fetch",
                           "+refs/heads/*:refs/remotes/origin/*"], tmp / "repo")
                (tmp / "repo").rename(cache)
                shutil.rmtree(tmp, ignore_errors=True)
                self.clones += 1
            wanted = [i.newrev for i in items] + [pinned[b] for b in pinned]
            if not pinned or not await self._have(cache, wanted):
                refspecs = ["+refs/heads/*:refs/remotes/origin/*"]
                refspecs += [f"+{i.ref}:refs/zuul/fetched/{i.ref.removeprefix('refs/')}"
                             for i in items if not i.ref.startswith("refs/heads/")]
                await git(["fetch", "--quiet", "--prune", "--no-tags", project.git_url,
                           *refspecs], cache)
                self.fetches += 1
        return cache

    @staticmethod
    async def _have(cache: Path, shas: list[str]) -> bool:
        for sha in shas:
            code, _ = await git(["cat-file", "-e", f"{sha}^{{commit}}"], cache, check=False)
            if code != 0:
                return False
        return True

    async def prepare(self, spec: MergeSpec, dest_root: Path) -> MergeOutcome:
        """Build the future state of every project of ``spec`` under ``dest_root/<name>``."""
        commits: dict[str, str] = {}
        state: dict[str, dict[str, str]] = {}
        for project in spec.projects:
            items = [i for i in spec.items
                     if i.project == project.name and i.branch == project.branch]
            pinned = spec.repo_state.get(project.name, {})
            try:
                cache = await self._update(project, items, pinned)
            except GitError as exc:
                raise MergeFailure(f"{project.name}: cannot fetch {project.git_url}: "
                                   f"{exc}") from None
            work = dest_root / project.name
            work.parent.mkdir(parents=True, exist_ok=True)
            borrow = "--no-hardlinks" if self.self_contained else "--shared"
            await git(["clone", "--quiet", borrow, "--no-checkout", str(cache), str(work)],
                      dest_root)
            base = pinned.get(project.branch) or await self._tip(cache, project)
            commits[project.name] = await self._apply(work, base, items, spec.merge_time)
            state[project.name] = {project.branch: base}
            await git(["checkout", "--quiet", "-B", project.branch], work)
        return MergeOutcome(commits=commits, repo_state=state)

    @staticmethod
    async def _tip(cache: Path, project: ProjectSpec) -> str:
        code, sha = await git(["rev-parse", "--verify", "--quiet",
                               f"refs/remotes/origin/{project.branch}^{{commit}}"],
                              cache, check=False)
        if code != 0:
            raise MergeFailure(f"{project.name}: branch {project.branch} not found")
        return sha

    async def _apply(self, work: Path, base: str, items: list[MergeItem],
                     merge_time: int) -> str:
        env = git_env(merge_time)
        await git(["checkout", "--quiet", "--detach", base], work, env)
        for item in items:
            code, _ = await git(["cat-file", "-e", f"{item.newrev}^{{commit}}"], work, env,
                                check=False)
            if code != 0:
                raise MergeFailure(f"{item.label}: commit {item.newrev} not found at "
                                   f"{item.ref}")
            head = (await git(["rev-parse", "HEAD"], work, env))[1]
            try:
                await self._apply_one(work, head, item, env)
            except GitError as exc:
                log.info("Merge conflict: %s on %s: %s", item.label, head, exc)
                await self._abort(work, head, env)
                raise MergeFailure(f"{item.label} does not merge into {item.project} "
                                   f"{item.branch} ({item.merge_mode})", conflict=True) from None
        return (await git(["rev-parse", "HEAD"], work, env))[1]

    @staticmethod
    async def _apply_one(work: Path, head: str, item: MergeItem, env: dict[str, str]) -> None:
        mode = MergeMode(item.merge_mode)
        message = f"Merge {item.label}: {item.title}" if item.title else f"Merge {item.label}"
        if mode is MergeMode.MERGE:
            await git(["merge", "--quiet", "--no-ff", "--no-edit", "-m", message,
                       item.newrev], work, env)
        elif mode is MergeMode.SQUASH_MERGE:
            await git(["merge", "--quiet", "--squash", item.newrev], work, env)
            title = f"{item.title} (#{item.number})" if item.title else message
            await git(["commit", "--quiet", "--allow-empty", "-m", title], work, env)
        elif mode is MergeMode.REBASE:
            await git(["checkout", "--quiet", "--detach", item.newrev], work, env)
            await git(["rebase", "--quiet", head], work, env)
        else:
            await git(["cherry-pick", "--allow-empty", "--keep-redundant-commits",
                       f"{head}..{item.newrev}"], work, env)

    @staticmethod
    async def _abort(work: Path, head: str, env: dict[str, str]) -> None:
        for command in (["merge", "--abort"], ["rebase", "--abort"],
                        ["cherry-pick", "--abort"]):
            await git(command, work, env, check=False)
        await git(["reset", "--quiet", "--hard"], work, env, check=False)
        await git(["checkout", "--quiet", "--detach", head], work, env, check=False)

    async def check(self, spec: MergeSpec, scratch_root: Path) -> MergeOutcome:
        """Prepare ``spec`` in a scratch dir (removed after): the scheduler's merge check."""
        scratch_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="merge-", dir=scratch_root))
        try:
            return await self.prepare(spec, tmp)
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
