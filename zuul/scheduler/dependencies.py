"""Cross-repository dependencies: ``Depends-On: <pull request URL>`` lines in PR bodies.

:func:`resolve` walks the Depends-On graph of a change through the GitHub API (each needed
pull request is fetched: its head, base branch, merged state and body) and returns the open
changes it needs, dependencies first. A cycle is refused with :class:`DependencyError`
naming it; so is a needed pull request that does not exist or is not in the tenant.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from zuul.scheduler.model import Change
from zuul.scheduler.triggers import change_from_pull_request

DEPENDS_ON = re.compile(
    r"^\s*Depends-On:\s*https?://[^/\s]+/([^/\s]+/[^/\s]+)/pulls?/(\d+)/?\s*$",
    re.IGNORECASE | re.MULTILINE)
MAX_DEPENDENCIES = 50

PullFetcher = Callable[[str, int], Awaitable[dict[str, Any] | None]]


class DependencyError(Exception):
    """A change's dependencies cannot be honoured (a cycle, a missing pull request...)."""


def depends_on(body: str) -> list[tuple[str, int]]:
    """The ``(project, number)`` pairs named by Depends-On lines of ``body``, in order."""
    return list(dict.fromkeys((m.group(1), int(m.group(2)))
                              for m in DEPENDS_ON.finditer(body or "")))


def _label(key: tuple[str, int]) -> str:
    return f"{key[0]}#{key[1]}"


async def resolve(change: Change, fetch: PullFetcher,
                  projects: Collection[str]) -> list[Change]:
    """The open changes ``change`` needs, transitively, each after the ones it needs."""
    if change.number is None:
        return []
    root = (change.project, change.number)
    ordered: list[Change] = []
    done: set[tuple[str, int]] = set()
    fetched: dict[tuple[str, int], dict[str, Any] | None] = {}

    async def visit(key: tuple[str, int], body: str, path: list[tuple[str, int]]) -> None:
        for need in depends_on(body):
            if need in path or need == root:
                cycle = " -> ".join(_label(k) for k in [*path, need])
                raise DependencyError(f"dependency cycle: {cycle}")
            if need in done:
                continue
            if len(fetched) >= MAX_DEPENDENCIES:
                raise DependencyError(f"more than {MAX_DEPENDENCIES} dependencies")
            if need[0] not in projects:
                raise DependencyError(f"depends on {_label(need)}, which is not a project "
                                      "of this tenant")
            if need not in fetched:
                fetched[need] = await fetch(*need)
            pull = fetched[need]
            if pull is None:
                raise DependencyError(f"depends on {_label(need)}, which does not exist")
            await visit(need, str(pull.get("body") or ""), [*path, need])
            done.add(need)
            if not pull.get("merged"):
                ordered.append(change_from_pull_request(change.connection, need[0], pull))

    await visit(root, change.body, [root])
    return ordered
