"""The merger against real git repositories: merge modes, conflicts, the repo cache."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.scheduler.github_api import GitRepos, _git
from zuul.merger import MergeFailure, MergeItem, Merger, MergeSpec, ProjectSpec


def _item(repos: GitRepos, number: int, sha: str, mode: str) -> MergeItem:
    return MergeItem(project="org/a", git_url=repos.url("org/a"), branch="main",
                     ref=f"refs/pull/{number}/head", newrev=sha, number=number,
                     merge_mode=mode, title=f"change {number}")


@pytest.fixture
def repos(workdir: Path) -> GitRepos:
    repos = GitRepos(workdir / "github")
    repos.root.mkdir()
    repos.create("org/a")
    return repos


@pytest.mark.parametrize("mode", ["merge", "squash-merge", "rebase", "cherry-pick"])
async def test_modes_stack_changes_on_the_current_tip(repos: GitRepos, workdir: Path,
                                                       mode: str) -> None:
    one = repos.commit("org/a", "main", {"a.txt": "a\n"}, "A", "refs/pull/1/head")
    two = repos.commit("org/a", "main", {"b.txt": "b\n"}, "B", "refs/pull/2/head")
    tip = repos.commit("org/a", "main", {"later.txt": "x\n"}, "later", "refs/heads/main")
    merger = Merger(workdir / "cache")
    spec = MergeSpec(items=[_item(repos, 1, one, mode), _item(repos, 2, two, mode)],
                     projects=[ProjectSpec("org/a", repos.url("org/a"), "main")],
                     merge_time=1_700_000_000)
    first = await merger.prepare(spec, workdir / "one")
    work = workdir / "one" / "org/a"
    assert sorted(_git(["ls-files"], work).split()) == ["README", "a.txt", "b.txt",
                                                         "later.txt"]
    assert first.repo_state == {"org/a": {"main": tip}}
    assert _git(["rev-parse", "HEAD"], work) == first.commits["org/a"]
    assert _git(["rev-parse", "--abbrev-ref", "HEAD"], work) == "main"
    # The same spec pinned to the same tips gives the same commit (what an executor does),
    # from the cache: fetched again only when a commit is missing, never re-cloned.
    pinned = MergeSpec(spec.items, spec.projects, spec.merge_time, first.repo_state)
    again = await merger.prepare(pinned, workdir / "two")
    assert again.commits == first.commits
    assert merger.clones == 1 and merger.fetches == 1


async def test_conflict_names_the_change(repos: GitRepos, workdir: Path) -> None:
    one = repos.commit("org/a", "main", {"same.txt": "one\n"}, "A", "refs/pull/1/head")
    two = repos.commit("org/a", "main", {"same.txt": "two\n"}, "B", "refs/pull/2/head")
    merger = Merger(workdir / "cache")
    spec = MergeSpec(items=[_item(repos, 1, one, "merge"), _item(repos, 2, two, "merge")],
                     projects=[ProjectSpec("org/a", repos.url("org/a"), "main")],
                     merge_time=1_700_000_000)
    with pytest.raises(MergeFailure) as failure:
        await merger.check(spec, workdir / "scratch")
    assert failure.value.conflict and "org/a#2" in str(failure.value)
    assert list((workdir / "scratch").iterdir()) == []
    # Without the change ahead it merges.
    alone = MergeSpec(items=spec.items[1:], projects=spec.projects, merge_time=1)
    assert (await merger.check(alone, workdir / "scratch")).commits["org/a"]


async def test_missing_commit_is_a_failure_not_a_conflict(repos: GitRepos,
                                                          workdir: Path) -> None:
    spec = MergeSpec(items=[_item(repos, 9, "f" * 40, "merge")],
                     projects=[ProjectSpec("org/a", repos.url("org/a"), "main")], merge_time=1)
    with pytest.raises(MergeFailure) as failure:
        await Merger(workdir / "cache").check(spec, workdir / "scratch")
    assert not failure.value.conflict
