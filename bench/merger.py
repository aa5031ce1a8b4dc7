"""Preparing speculative future states with ``zuul.merger.Merger`` in a big repository.

Builds a bare repository with COMMITS commits on ``main`` (``git fast-import``; 100 files
touched in turn) and QUEUE pull requests on top of its tip, each adding its own file. Then,
from one Merger (its repo cache cloned once), prepares the future state of the k-th item of a
queue for k = 1..QUEUE: the tip plus the k-1 items ahead plus the item, merged (``merge``
mode), as the scheduler's merge check does (scratch work tree, removed after). Prints the
cold clone, then per-item time and the increment per item as the queue grows.
Usage: python bench/merger.py [COMMITS [QUEUE [MODE]]]   (defaults 10000, 20, merge)
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.scheduler.github_api import GitRepos  # noqa: E402
from zuul.merger import MergeItem, Merger, MergeSpec, ProjectSpec  # noqa: E402

PROJECT = "org/big"


def history(commits: int, queue: int) -> bytes:
    """A fast-import stream: ``commits`` commits on main, each changing one of 100 files
    (fast-import chains a branch's commits), then ``queue`` pull request heads
    ``refs/pull/N/head`` on main's tip, each adding its own file."""
    out = []

    def commit(ref: str, when: int, message: str, path: str, text: str,
               parent: str | None = None, mark: int | None = None) -> None:
        data, msg = text.encode(), message.encode()
        out.append(f"commit {ref}\n".encode())
        if mark is not None:
            out.append(f"mark :{mark}\n".encode())
        out.append(f"committer Dev <dev@example.invalid> {when} +0000\n".encode())
        out.append(b"data %d\n%s" % (len(msg), msg))
        if parent:
            out.append(f"from {parent}\n".encode())
        out.append(f"M 100644 inline {path}\n".encode())
        out.append(b"data %d\n%s\n" % (len(data), data))

    for i in range(commits):
        commit("refs/heads/main", 1_600_000_000 + i, f"commit {i}\n", f"file-{i % 100}.txt",
               f"line {i}\n", mark=1 if i == commits - 1 else None)
    for n in range(1, queue + 1):
        commit(f"refs/pull/{n}/head", 1_700_000_000 + n, f"change {n}\n", f"pr-{n}.txt",
               f"{n}\n", parent=":1")
    return b"".join(out)


def make_repo(root: Path, commits: int, queue: int) -> tuple[GitRepos, list[MergeItem]]:
    repos = GitRepos(root)
    bare = repos.path(PROJECT)
    bare.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(bare)],
                   check=True)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare,
                   input=history(commits, queue), check=True)
    items = []
    for n in range(1, queue + 1):
        sha = subprocess.run(["git", "rev-parse", f"refs/pull/{n}/head"], cwd=bare,
                             check=True, capture_output=True, text=True).stdout.strip()
        items.append(MergeItem(project=PROJECT, git_url=repos.url(PROJECT), branch="main",
                               ref=f"refs/pull/{n}/head", newrev=sha, number=n,
                               title=f"change {n}"))
    return repos, items


async def run(commits: int, queue: int, mode: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-merger-"))
    try:
        began = time.perf_counter()
        repos, items = await asyncio.to_thread(make_repo, root / "github", commits, queue)
        items = [MergeItem(**{**i.__dict__, "merge_mode": mode}) for i in items]
        print(f"repository: {commits} commits + {queue} pull requests "
              f"({time.perf_counter() - began:.1f}s to create)")
        merger = Merger(root / "cache")
        project = ProjectSpec(PROJECT, repos.url(PROJECT), "main")
        began = time.perf_counter()
        await merger.check(MergeSpec(items=[], projects=[project], merge_time=1), root / "w")
        print(f"cold: clone into the repo cache + tip checkout: "
              f"{time.perf_counter() - began:.3f}s")
        print(f"{'item':>5} {'changes merged':>15} {'seconds':>9} {'vs previous':>12}")
        previous = None
        times = []
        for k in range(1, queue + 1):
            spec = MergeSpec(items=items[:k], projects=[project], merge_time=1_700_000_000)
            began = time.perf_counter()
            outcome = await merger.check(spec, root / "w")
            elapsed = time.perf_counter() - began
            times.append(elapsed)
            delta = f"{elapsed - previous:+.3f}" if previous is not None else ""
            print(f"{k:>5} {k:>15} {elapsed:>9.3f} {delta:>12}")
            previous = elapsed
            assert outcome.commits[PROJECT]
        per_item = (times[-1] - times[0]) / max(1, queue - 1)
        print(f"item {queue} of the queue: {times[-1]:.3f}s; about {per_item * 1000:.0f} ms "
              f"per item ahead; clones {merger.clones}, fetches {merger.fetches}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    commits = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    queue = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    mode = sys.argv[3] if len(sys.argv) > 3 else "merge"
    asyncio.run(run(commits, queue, mode))


if __name__ == "__main__":
    main()
