"""Running one build: nodes from Nodepool, the playbook on the executor, nodes back.

The path of a build: ``NodeRequester.request(labels)`` -> ``Executor.run(BuildRequest)`` ->
``NodeRequester.release(nodeset, hold=<autohold>)``. A job without a nodeset needs no node
request (its playbook runs on the executor's localhost); the built-in ``noop`` job runs
nothing at all.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from zuul.executor import BuildRequest, Executor
from zuul.executor.cleanup import end_lost_build, kill_processes_in
from zuul.scheduler import speculative
from zuul.scheduler.model import ABORTED, CANCELED, ERROR, NODE_FAILURE, SUCCESS, Build, QueueItem

log = logging.getLogger(__name__)

PRECEDENCE = {"high": 100, "normal": 200, "low": 300}

# A job without a nodeset runs on the executor's own host.
LOCAL_NODE = {"name": "node", "label": "", "host": "localhost", "connection": "local",
              "port": 22, "username": None}

HoldLookup = Callable[[str, QueueItem, Build], dict[str, Any] | None]


def node_dicts(nodeset: Any) -> list[dict[str, Any]]:
    """The executor's node list for a Nodepool NodeSet."""
    return [{"name": f"node{i}" if len(nodeset.nodes) > 1 else "node", "label": n.label,
             "host": n.host, "connection": n.connection_type, "port": n.connection_port,
             "username": n.username} for i, n in enumerate(nodeset.nodes)]


def zuul_vars(tenant: str, item: QueueItem, build: Build) -> dict[str, Any]:
    """The ``zuul`` variable a playbook sees (``projects`` is added by the executor)."""
    change = item.change
    return {"tenant": tenant, "pipeline": item.pipeline,
            "project": speculative.project_vars(change.project),
            "items": speculative.items_vars(item),
            "change": str(change.number) if change.number is not None else None,
            "patchset": change.patchset, "ref": change.ref, "branch": change.branch,
            "oldrev": change.oldrev or None, "newrev": change.newrev,
            "buildset": item.buildset_uuid, "voting": build.job.voting,
            "items_ahead": [i.change.id for i in _bases(item)]}


def _bases(item: QueueItem) -> list[QueueItem]:
    chain = []
    base = item.base
    while base is not None:
        chain.append(base)
        base = base.base
    return list(reversed(chain))


class Launcher(Protocol):
    """What the scheduler needs of a build launcher (local ``BuildLauncher`` or
    ``zuul.scheduler.remote.RemoteBuildLauncher``)."""

    async def run(self, tenant: str, item: QueueItem, build: Build, git_url: str,
                  precedence: str = "normal",
                  variables: dict[str, Any] | None = None) -> None: ...

    async def cancel(self, build: Build) -> None: ...

    async def kill_leftovers(self, builds: list[Build]) -> None: ...

    async def abandon(self, build: Build) -> None: ...


class BuildLauncher:
    """Runs builds for the scheduler through a NodeRequester (optional) and an Executor."""

    def __init__(self, executor: Executor, nodes: Any | None, hold_for: HoldLookup) -> None:
        self.executor = executor
        self.nodes = nodes
        self.hold_for = hold_for

    async def run(self, tenant: str, item: QueueItem, build: Build, git_url: str,
                  precedence: str = "normal",
                  variables: dict[str, Any] | None = None) -> None:
        """Run ``build`` to its end, filling in its result, times and error."""
        nodeset = None
        try:
            if build.job.nodeset:
                if self.nodes is None:
                    build.result, build.error = NODE_FAILURE, "no ZooKeeper configured"
                    return
                # Not started while it waits: status.json shows it queued, with the reason.
                build.waiting = f"node request for {', '.join(build.job.nodeset)}"
                nodeset = await self.nodes.request(
                    build.job.nodeset, build.uuid, priority=PRECEDENCE.get(precedence, 200),
                    relative_priority=build.relative_priority, tenant_name=tenant,
                    submitted=lambda request_id: setattr(build, "node_request", request_id))
                build.waiting = None
            build.start_time = time.time()
            if build.canceled:
                build.result = CANCELED
                return
            if build.job.playbook is None:
                build.result = SUCCESS
                return
            request = BuildRequest(
                uuid=build.uuid, job=build.job.name, playbook=build.job.playbook,
                nodes=node_dicts(nodeset) if nodeset is not None else [dict(LOCAL_NODE)],
                zuul_vars=zuul_vars(tenant, item, build), timeout=build.job.timeout,
                project_git_url=git_url or None, ref=item.change.ref,
                merge=speculative.build_params(item, build.job),
                variables=variables or {})
            result = await self.executor.run(request)
            build.result = CANCELED if build.canceled and result.result == ABORTED \
                else result.result
            build.error = result.error
        except asyncio.CancelledError:
            build.result = CANCELED
            raise
        except Exception as exc:  # noqa: BLE001 - NodeRequestFailed and anything else
            failed = type(exc).__name__ == "NodeRequestFailed"
            build.result = NODE_FAILURE if failed else ERROR
            build.error = str(exc) or type(exc).__name__
            if not failed:
                log.exception("Build %s failed", build.uuid)
        finally:
            build.waiting = build.node_request = None
            build.end_time = time.time()
            if build.start_time is None:
                build.start_time = build.end_time
            if nodeset is not None:
                hold = self.hold_for(tenant, item, build) if build.result not in (
                    SUCCESS, CANCELED) else None
                await asyncio.shield(self._release(nodeset, hold))

    async def _release(self, nodeset: Any, hold: dict[str, Any] | None) -> None:
        if self.nodes is None:  # a nodeset comes only from self.nodes
            return
        try:
            await self.nodes.release(nodeset, hold=hold)
        except Exception:  # noqa: BLE001 - a node left locked is Nodepool's to clean up
            log.exception("Could not release nodeset %s", getattr(nodeset, "request_id", "?"))

    async def kill_leftovers(self, builds: list[Build]) -> None:
        """Kill every process still running for ``builds`` (one scan); return when gone."""
        dirs = [self.executor.work_root / b.uuid for b in builds]
        killed = await asyncio.to_thread(kill_processes_in, *dirs)
        if killed:
            log.warning("Killed %d leftover process(es) of %d lost build(s)", killed,
                        len(builds))

    async def abandon(self, build: Build) -> None:
        """End a build whose process was lost (scheduler restart) and whose leftovers were
        killed: write its ``build.json`` with ``build.result`` and ``build.error``."""
        await asyncio.to_thread(end_lost_build, self.executor.log_root,
                                self.executor.work_root, build.uuid, build.job.name,
                                build.result or ABORTED, build.error or "lost",
                                build.start_time, False)

    async def cancel(self, build: Build) -> None:
        """Abort ``build``: on the executor if it runs there, else stop waiting for nodes."""
        build.canceled = True
        if not await self.executor.abort(build.uuid) and build.task is not None:
            build.task.cancel()
