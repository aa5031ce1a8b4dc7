"""The scheduler core: tenants and their pipelines, events in, builds out, reports.

Everything here runs on the service's event loop. Queue processing happens in one task
(:meth:`Scheduler.run`) woken by :meth:`wake` whenever something changed (an item enqueued or
dequeued, a build ended, a reload), so pipeline state is only ever changed in one place.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import prometheus_client

from zuul.db.history import BuildHistory, HistoryOp
from zuul.db.writer import HistoryWriter
from zuul.lib.config import ConfigError
from zuul.reporters.github import GitHubReporter
from zuul.scheduler import speculative, tenant_config, zkstate
from zuul.scheduler.dependencies import DependencyError, resolve
from zuul.scheduler.events import TriggerEvent
from zuul.scheduler.gating import Gating
from zuul.scheduler.keys import KeyStore
from zuul.scheduler.launcher import Launcher
from zuul.scheduler.manager import PipelineManager
from zuul.scheduler.model import (
    ABORTED,
    CANCELED,
    SUCCESS,
    Build,
    Change,
    MergeState,
    QueueItem,
    Tenant,
)
from zuul.scheduler.secrets import decrypt_fields
from zuul.scheduler.semaphores import Semaphores
from zuul.scheduler.triggers import change_from_pull_request, event_change, rule_matches

log = logging.getLogger(__name__)

# Trigger events kept per tenant while its trigger processing is paused.
MAX_DEFERRED = 10_000
FINALS_AFTER_RESTART = prometheus_client.Counter(
    "zuul_final_reports_after_restart",
    "Final reports sent by a scheduler that found them unsent in ZooKeeper at start (at "
    "least once: one may have been sent, in part, before the previous scheduler died)")
# Processing passes start at most this often (seconds); wakes in between share the next pass.
MIN_PASS_INTERVAL = 0.05


class Scheduler:
    """Owns the layout (tenants) and the live pipelines; implements the pipeline hooks."""

    def __init__(self, tenant_config_path: str | None, connections: dict[str, dict[str, Any]],
                 history: BuildHistory, launcher: Launcher | None = None,
                 log_url: Callable[[str], str | None] = lambda _uuid: None,
                 gating: Gating | None = None, keys: KeyStore | None = None) -> None:
        self.tenant_config_path = tenant_config_path
        self.gating = gating
        self.connection_names = list(connections)
        self.reporters = {name: GitHubReporter(name, conf)
                          for name, conf in connections.items()}
        self.history = history
        # History writes of the hot path, batched (one transaction per batch, in a thread).
        self.history_writer = HistoryWriter(history)
        self.launcher = launcher
        self.log_url = log_url
        self.keys = keys
        self.semaphores = Semaphores()
        self.tenants: dict[str, Tenant] = {}
        self.managers: dict[str, dict[str, PipelineManager]] = {}
        self.known_changes: dict[tuple[str, int], Change] = {}
        self.estimates: dict[str, dict[tuple[str, str], float]] = {}
        self.last_reconfigured = 0.0
        self.trigger_events_pending = 0
        self.results_pending = 0
        self.state_version = 0
        # Per tenant: trigger/result event processing paused (POST /api/tenant/{t}/state).
        self.paused: dict[str, dict[str, Any]] = {}
        self._deferred: dict[str, list[TriggerEvent]] = {}
        self._wake = asyncio.Event()
        self._report_queue: asyncio.Queue[tuple[str, PipelineManager, QueueItem, str]] = \
            asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Pipeline state in ZooKeeper (zuul.scheduler.zkstate); None keeps it in memory only.
        self.state: zkstate.PipelineStateStore | None = None
        self.finals: dict[str, zkstate.PendingReport] = {}
        self.persisted_version = 0
        self._persisted = asyncio.Condition()
        self._persist_retry: asyncio.TimerHandle | None = None
        self._stopping = False
        # While suspended (the ZooKeeper session was lost) no pass runs and nothing is
        # written: builds go on, their ends wait for resume().
        self.suspended = False
        # Items whose final report a previous scheduler left unsent (or not known sent).
        self._after_restart: set[str] = set()

    # Layout -------------------------------------------------------------------------------

    def load_layout(self) -> None:
        """Load the tenant config (raises ConfigError) and carry over queued items."""
        tenants = tenant_config.load(self.tenant_config_path, self.connection_names,
                                     strict=False)
        for tenant in tenants.values():
            for error in tenant.errors:
                log.warning("Tenant %s config error: %s", tenant.name, error["error"])
        managers: dict[str, dict[str, PipelineManager]] = {}
        for name, tenant in tenants.items():
            managers[name] = {}
            for pname, pconf in tenant.pipelines.items():
                manager = PipelineManager(name, pconf, self)
                old = self.managers.get(name, {}).get(pname)
                if old is not None:
                    manager.queues = old.queues
                    for queue in manager.queues:
                        queue.window = pconf.window if pconf.dependent else 0
                managers[name][pname] = manager
        for name, old_pipelines in self.managers.items():
            for pname, old in old_pipelines.items():
                if pname not in managers.get(name, {}):
                    for item in old.items:
                        old.dequeue(item)
        self.tenants, self.managers = tenants, managers
        self.last_reconfigured = time.time()
        for name, tenant in tenants.items():
            self._system_event(name, "tenant reconfiguration",
                               f"Loaded with {len(tenant.errors)} configuration error(s)")
        self.wake()

    def _system_event(self, tenant: str, event_type: str, description: str) -> None:
        """Record a system event in the history (off the loop when one is running)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.history.add_system_event(tenant, event_type, description)
            return
        self.history_writer.submit(HistoryOp.SYSTEM_EVENT, tenant, event_type, description,
                                   None)

    async def restore_state(self, store: zkstate.PipelineStateStore) -> int:
        """Take the queues stored in ZooKeeper into the (loaded) layout; return the item count.

        From then on every processing pass writes its changes there. Builds stored without a
        result ran in a process that is gone: each is ended as ABORTED with the reason (its
        leftovers killed, ``build.json`` and a history row written) and its job runs again.
        Items whose final report was not sent yet are reported now.
        """
        stored = await asyncio.to_thread(store.load)
        self.state = store
        count = 0
        lost: list[tuple[str, QueueItem, Build]] = []
        for (tenant, pipeline), restored in stored.items():
            manager = self.managers.get(tenant, {}).get(pipeline)
            if manager is None:
                log.warning("Pipeline %s/%s is no longer configured: dropping its items",
                            tenant, pipeline)
                continue
            jobs = self.tenants[tenant].jobs
            items = zkstate.restore_queues(manager, restored, jobs)
            for item in items:
                if item.change.number is not None:
                    self.known_changes[(item.change.project, item.change.number)] = item.change
                for build in [b for b in item.builds.values() if b.result is None]:
                    if getattr(self.launcher, "resumes_builds", False):
                        # Still running on an executor: follow its request again.
                        self.start_build(manager, item, build)
                    else:
                        lost.append((tenant, item, build))
            for data in restored.finals:
                item = zkstate.item_from_dict(data, jobs)
                self.finals[item.uuid] = zkstate.PendingReport(tenant, pipeline, item,
                                                               data["final"])
                self._report_queue.put_nowait((tenant, manager, item, data["final"]))
                self._after_restart.add(item.uuid)
            count += len(items)
            log.info("Restored %d item(s) of %s/%s", len(items), tenant, pipeline)
        if lost:
            await self._abandon_all(lost)
        self.wake()
        return count

    async def _abandon_all(self, lost: list[tuple[str, QueueItem, Build]]) -> None:
        """End builds that can no longer end; their jobs run again.

        They leave their items before anything else happens (so no state written from now
        on shows them running or failed), their leftover processes are killed before their
        jobs can start again, and their ``build.json`` and history rows follow in the
        background.
        """
        reason = "the scheduler stopped while the build ran; re-run"
        for _tenant, item, build in lost:
            if item.builds.get(build.job.name) is build:
                del item.builds[build.job.name]
            item.previous_builds.append(build)
            build.result, build.error, build.end_time = ABORTED, reason, time.time()
            log.warning("Build %s of %s: %s", build.uuid, item.change.id, reason)
        if self.launcher is not None:
            try:
                await self.launcher.kill_leftovers([b for _t, _i, b in lost])
            except Exception:  # noqa: BLE001 - run the jobs again all the same
                log.exception("Could not kill the leftovers of lost builds")
        for tenant, item, build in lost:
            self._spawn(self._abandon(tenant, item, build))

    async def _abandon(self, tenant: str, item: QueueItem, build: Build) -> None:
        """Write the end of a lost build: ``build.json`` and its history row."""
        if self.launcher is not None:
            try:
                await self.launcher.abandon(build)
            except Exception:  # noqa: BLE001 - still record it
                log.exception("Could not write the end of build %s", build.uuid)
        with contextlib.suppress(Exception):  # the history writer logs a failed write
            await self._record(tenant, item, build)

    async def reconfigure(self) -> None:
        """Reload the tenant config; on error keep the running layout and raise."""
        try:
            self.load_layout()
        except ConfigError as exc:
            log.error("Reconfiguration failed, keeping the current config: %s", exc)
            raise
        await self.refresh_estimates()
        log.info("Reconfigured: %d tenant(s)", len(self.tenants))

    async def refresh_estimates(self) -> None:
        """Re-read mean build durations from the history."""
        for name in self.tenants:
            self.estimates[name] = await asyncio.to_thread(self.history.average_durations, name)

    # Events -------------------------------------------------------------------------------

    async def handle_event(self, event: TriggerEvent, only_tenant: str | None = None) -> None:
        """:meth:`match_event`, then wait until what it enqueued is in ZooKeeper."""
        await self.match_event(event, only_tenant)
        await self.wait_persisted()

    async def match_event(self, event: TriggerEvent, only_tenant: str | None = None) -> None:
        """Match one trigger event against every tenant's pipelines and enqueue items."""
        self.trigger_events_pending += 1
        try:
            change = event_change(event, self.known_changes)
            if change is None and event.event == "issue_comment":
                change = await self._fetch_commented_change(event)
            if change is None:
                return
            if change.number is not None:
                self.known_changes[(change.project, change.number)] = change
            for tenant in self.tenants.values():
                if only_tenant is not None and tenant.name != only_tenant:
                    continue
                project = tenant.projects.get(change.project)
                if project is None or project.connection != event.connection:
                    continue
                if self.event_state(tenant.name)["trigger_queue_paused"]:
                    self._defer(tenant.name, event)
                    continue
                for pname, manager in self.managers[tenant.name].items():
                    if any(rule_matches(rule, event) for rule in manager.config.triggers):
                        await self._enqueue_with_needs(tenant, pname, change, event.delivery)
        finally:
            self.trigger_events_pending -= 1

    async def wait_persisted(self) -> None:
        """Return once every change made so far is in ZooKeeper (at once without it)."""
        if self.state is None:
            return
        target = self.state_version
        async with self._persisted:
            await self._persisted.wait_for(lambda: self.persisted_version >= target)

    def event_state(self, tenant: str) -> dict[str, Any]:
        """Zuul's tenant event state: whether trigger/result processing is paused."""
        state = self.paused.get(tenant, {})
        return {"trigger_queue_discarding": False,
                "trigger_queue_paused": bool(state.get("trigger_queue_paused")),
                "result_queue_paused": bool(state.get("result_queue_paused")),
                "reason": state.get("reason"), "info": state.get("info")}

    def set_event_state(self, tenant: str, trigger: bool | None, result: bool | None,
                        reason: str | None = None) -> None:
        """Pause (True) or resume (False) trigger/result processing; None keeps it.

        Trigger events for a paused tenant wait (at most ``MAX_DEFERRED``) and are handled
        on resume; while results are paused the tenant's pipelines are not processed.
        """
        state = self.event_state(tenant)
        if trigger is not None:
            state["trigger_queue_paused"] = trigger
        if result is not None:
            state["result_queue_paused"] = result
        state["reason"] = reason
        self.paused[tenant] = state
        log.info("Tenant %s event state: %s", tenant, state)
        self._system_event(tenant, "tenant state",
                           f"trigger_queue_paused={state['trigger_queue_paused']} "
                           f"result_queue_paused={state['result_queue_paused']}")
        if not state["trigger_queue_paused"]:
            for event in self._deferred.pop(tenant, []):
                self._spawn(self.handle_event(event, only_tenant=tenant))
        self.wake()

    def _defer(self, tenant: str, event: TriggerEvent) -> None:
        deferred = self._deferred.setdefault(tenant, [])
        if len(deferred) >= MAX_DEFERRED:
            log.warning("Tenant %s: trigger queue paused and full, dropping event %s",
                        tenant, event.delivery)
            return
        deferred.append(event)

    async def _fetch_commented_change(self, event: TriggerEvent) -> Change | None:
        issue = event.body.get("issue")
        repo = event.body.get("repository")
        reporter = self.reporters.get(event.connection)
        if not isinstance(issue, dict) or not isinstance(repo, dict) or reporter is None:
            return None
        if "pull_request" not in issue or not isinstance(issue.get("number"), int):
            return None
        pull = await reporter.get_pull(str(repo.get("full_name")), issue["number"])
        if pull is None:
            return None
        return change_from_pull_request(event.connection, str(repo.get("full_name")), pull)

    async def _enqueue_with_needs(self, tenant: Tenant, pipeline: str, change: Change,
                                  event_id: str) -> None:
        """Enqueue ``change`` with the changes it depends on; refuse it (reported) if it
        cannot be (a Depends-On cycle, a missing dependency)."""
        if not tenant.projects[change.project].pipelines.get(pipeline):
            return
        reporter = self.reporters.get(change.connection)
        needs: list[Change] = []
        if reporter is not None and change.number is not None:
            try:
                needs = await resolve(change, reporter.get_pull, tenant.projects)
            except DependencyError as exc:
                log.info("Event %s: %s#%s refused in %s: %s", event_id, change.project,
                         change.number, pipeline, exc)
                manager = self.managers[tenant.name][pipeline]
                refused = QueueItem(change=change, pipeline=pipeline, jobs=[],
                                    event_id=event_id, error=str(exc))
                self.report(manager, refused, "failure")
                return
            except Exception as exc:  # noqa: BLE001 - GitHub unreachable: test it alone
                log.warning("Event %s: dependencies of %s not resolved: %s", event_id,
                            change.id, exc)
        self.enqueue(tenant.name, pipeline, change, event_id, needs)

    def enqueue(self, tenant: str, pipeline: str, change: Change,
                event_id: str = "", needs: list[Change] | None = None) -> QueueItem | None:
        """Enqueue ``change`` with its project's jobs for ``pipeline``; None if not needed."""
        layout = self.tenants[tenant]
        project = layout.projects[change.project]
        job_names = project.pipelines.get(pipeline)
        if not job_names:
            return None
        jobs = [layout.jobs[name] for name in job_names]
        item = self.managers[tenant][pipeline].enqueue(change, jobs, project.queue, event_id)
        if item is not None:
            item.needs = list(needs or [])
            self.wake()
        return item

    def find_items(self, tenant: str, pipeline: str, project: str,
                   spec: str) -> list[QueueItem]:
        """Items of ``project`` in ``pipeline`` whose change matches ``spec``."""
        manager = self.managers[tenant][pipeline]
        return manager.find(lambda c: c.project == project and c.matches(spec))

    def dequeue(self, tenant: str, pipeline: str, items: list[QueueItem]) -> None:
        """Remove ``items`` from ``pipeline`` (builds canceled, nothing reported)."""
        manager = self.managers[tenant][pipeline]
        for item in items:
            manager.dequeue(item)
        self.wake()

    def promote(self, tenant: str, pipeline: str, items: list[QueueItem]) -> None:
        """Move ``items`` to the head of their queue, in order."""
        self.managers[tenant][pipeline].promote(items)
        self.wake()

    # Pipeline hooks -------------------------------------------------------------------------

    def start_build(self, manager: PipelineManager, item: QueueItem, build: Build) -> None:
        """Hook: run ``build`` of ``item`` in a task; wake the loop when it ends."""
        if self.launcher is None:
            build.result, build.error = "ERROR", "no executor configured"
            self.semaphores.release(manager.tenant, build.uuid)
            return
        layout = self.tenants[manager.tenant]
        project = layout.projects.get(item.change.project)
        build.log_url = self.log_url(build.uuid)
        if build.job.playbook is None and not build.job.nodeset:
            # Zuul's noop: nothing to run, so it succeeds here and now (as Zuul's executor
            # client does), and its item can be reported in this same pass.
            build.start_time = build.end_time = time.time()
            build.result = SUCCESS
            self._record(manager.tenant, item, build)
            return
        try:
            variables = self._job_variables(layout, build)
        except Exception as exc:  # noqa: BLE001 - a bad secret fails this build only
            log.warning("Build %s: cannot decrypt its secrets: %s", build.uuid,
                        type(exc).__name__)
            build.result, build.error = "ERROR", "cannot decrypt the job's secrets"
            self.semaphores.release(manager.tenant, build.uuid)
            return
        # Nodepool serves requests of items nearer the head of their queue first.
        build.relative_priority = next(
            (q.items.index(item) for q in manager.queues if item in q.items), 0)
        coro = self.launcher.run(manager.tenant, item, build,
                                 project.git_url if project else "", manager.config.precedence,
                                 variables)
        build.task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(build.task)
        build.task.add_done_callback(lambda t: self._build_done(t, manager, item, build))

    def _revise_node_requests(self, manager: PipelineManager) -> None:
        """The queue changed (dequeue, promote, an item ahead done or reset): as Zuul 14,
        revise the ``relative_priority`` of node requests still waiting."""
        nodes = getattr(self.launcher, "nodes", None)
        if nodes is None:
            return
        for queue in manager.queues:
            for index, item in enumerate(queue.items):
                for build in item.builds.values():
                    if build.node_request and build.waiting \
                            and build.relative_priority != index:
                        build.relative_priority = index
                        self._spawn(nodes.revise(build.node_request, index))

    def _job_variables(self, layout: Tenant, build: Build) -> dict[str, Any]:
        """The job's vars plus its secrets, decrypted with the owning project's key."""
        variables = dict(build.job.variables)
        for ref in build.job.secrets:
            name, _, secret_name = ref.partition("=")
            secret = layout.secrets[secret_name]
            if self.keys is None:
                raise RuntimeError("no keystore configured")
            owner = layout.projects.get(secret.project)
            connection = owner.connection if owner is not None else "github"
            variables[name] = decrypt_fields(
                secret.data, functools.partial(self.keys.decrypt, connection, secret.project))
        return variables

    def acquire_semaphores(self, manager: PipelineManager, item: QueueItem,
                           build: Build) -> bool:
        """Hook: take the job's semaphores for ``build`` (False: it must wait)."""
        limits = self.tenants[manager.tenant].semaphores
        return self.semaphores.acquire(manager.tenant, limits, build.job.semaphores,
                                       build.job.name, build.uuid, build.buildset_uuid)

    def _build_done(self, task: asyncio.Task[None], manager: PipelineManager,
                    item: QueueItem, build: Build) -> None:
        self._tasks.discard(task)
        if self._stopping and build.result is None:
            return  # stopping, not ended: the state in ZooKeeper still has it running
        self.semaphores.release(manager.tenant, build.uuid)
        if build.result is None:
            build.result = CANCELED if task.cancelled() else "ERROR"
        if build.canceled:
            build.result = CANCELED
        self._record(manager.tenant, item, build)
        self.wake()

    def cancel_build(self, build: Build) -> None:
        """Hook: abort a running build."""
        build.canceled = True
        if self.launcher is not None and build.task is not None and not build.task.done():
            self._spawn(self.launcher.cancel(build))

    def prepare(self, manager: PipelineManager, item: QueueItem) -> None:
        """Hook: prepare ``item``'s future state (merge check); wake when it is known."""
        tenant = self.tenants[manager.tenant]
        if self.gating is None or speculative.merge_spec(tenant, item) is None:
            item.merge_state = MergeState.READY  # nothing to merge: ready in this pass
            return
        self._spawn(self._wake_after(self.gating.prepare(tenant, item)))

    def merge_change(self, manager: PipelineManager, item: QueueItem) -> None:
        """Hook: merge the passing head ``item`` through its merging reporters."""
        if self.gating is None:
            item.merged, item.merging = True, False
            return
        self._spawn(self._wake_after(self.gating.merge(
            self.tenants[manager.tenant], item, self.reporters,
            manager.config.reporters.get("success", {}))))

    async def _wake_after(self, coro: Any) -> None:
        try:
            await coro
        finally:
            self.wake()

    def report(self, manager: PipelineManager, item: QueueItem, action: str) -> None:
        """Hook: queue a report of ``item`` (reports go out in order, off the loop's path).

        A final report is kept in the pipeline state until it is sent (see zkstate).
        """
        if action != "start":
            self.finals[item.uuid] = zkstate.PendingReport(manager.tenant, manager.name, item,
                                                           action)
        self._report_queue.put_nowait((manager.tenant, manager, item, action))
        self._record_buildset(manager.tenant, item, action)

    def hold_for(self, tenant: str, item: QueueItem, build: Build) -> dict[str, Any] | None:
        """The autohold request matching a failed build, if any (counted as used)."""
        hold = self.find_hold(tenant, item, build)
        if hold is not None:
            self.history.count_hold(hold["id"], build.uuid)
            build.held = True
        return hold

    def find_hold(self, tenant: str, item: QueueItem, build: Build) -> dict[str, Any] | None:
        """The autohold request that would hold ``build``'s nodes if it failed (not counted)."""
        for hold in self.history.autoholds(tenant):
            if hold["current_count"] >= hold["max_count"]:
                continue
            if hold["project"] != item.change.project or hold["job"] != build.job.name:
                continue
            if not re.search(hold["ref_filter"], item.change.ref):
                continue
            return {"id": hold["id"], "reason": hold["reason"],
                    "expiration": hold["node_expiration"] or None, "build": build.uuid}
        return None

    # Loops ----------------------------------------------------------------------------------

    def wake(self) -> None:
        """Ask the processing loop for another pass."""
        self.state_version += 1
        self._wake.set()

    def suspend(self) -> None:
        """Stop processing pipelines (the scheduler lock went with the ZooKeeper session)."""
        self.suspended = True

    async def resume(self) -> None:
        """Carry on after :meth:`suspend`, holding the scheduler lock again.

        The store re-reads what ZooKeeper holds now, so the next pass writes exactly the
        difference between it and the state in memory, which went on meanwhile (builds
        ended, results came in).
        """
        if self.state is not None:
            await self.state.resync()
        self.suspended = False
        self.wake()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Process the pipelines whenever woken; send reports; forever (until canceled)."""
        reporter = asyncio.get_running_loop().create_task(self._report_loop())
        try:
            last_pass = 0.0
            while True:
                await self._wake.wait()
                if self.suspended:
                    self._wake.clear()
                    continue  # resume() wakes it
                # A pass costs O(queued items): under a burst of events, let those arriving
                # within MIN_PASS_INTERVAL share one pass rather than each get its own.
                pause = last_pass + MIN_PASS_INTERVAL - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                last_pass = time.monotonic()
                self._wake.clear()
                for tenant, pipelines in self.managers.items():
                    if self.paused.get(tenant, {}).get("result_queue_paused"):
                        continue
                    for manager in pipelines.values():
                        try:
                            manager.process()
                            self._revise_node_requests(manager)
                        except Exception:  # noqa: BLE001 - keep the other pipelines going
                            log.exception("Error processing %s", manager.name)
                self.state_version += 1
                await self._persist()
        finally:
            reporter.cancel()

    async def _persist(self) -> None:
        """Write what changed to ZooKeeper; on failure retry in a second."""
        if self.state is None:
            return
        version = self.state_version
        try:
            await self.state.flush(zkstate.snapshot(self.managers, self.finals.values()))
        except Exception as exc:  # noqa: BLE001 - ZooKeeper down: keep running, retry
            log.warning("Could not write pipeline state to ZooKeeper (%s); retrying",
                        type(exc).__name__)
            if self._persist_retry is None or self._persist_retry.cancelled():
                self._persist_retry = asyncio.get_running_loop().call_later(1.0, self.wake)
            return
        async with self._persisted:
            self.persisted_version = max(self.persisted_version, version)
            self._persisted.notify_all()

    async def _report_loop(self) -> None:
        while True:
            tenant, manager, item, action = await self._report_queue.get()
            self.results_pending = self._report_queue.qsize()
            if item.uuid in self._after_restart:
                self._after_restart.discard(item.uuid)
                FINALS_AFTER_RESTART.inc()
                log.warning("Event %s: final report of %s (buildset %s) sent by this "
                            "scheduler after a restart; the previous one may have sent it "
                            "(in part) already", item.event_id, item.change.id,
                            item.buildset_uuid)
            options = manager.config.reporters.get(action, {})
            for name, opts in options.items():
                reporter = self.reporters.get(name)
                if reporter is None:
                    continue
                try:
                    await reporter.report(tenant, manager.name, item, action, opts)
                except Exception as exc:  # noqa: BLE001 - a report must not stop the others
                    log.warning("Reporter %s failed for %s: %s", name, item.change.id, exc)
            if action != "start" and self.finals.pop(item.uuid, None) is not None:
                self.wake()  # the next flush deletes the reported item

    async def record_build(self, tenant: str, item: QueueItem, build: Build) -> None:
        """Store ``build`` (an ended build, or one try of it) in the build history."""
        with contextlib.suppress(Exception):  # the history writer logs a failed write
            await self._record(tenant, item, build)

    def _buildset_row(self, tenant: str, item: QueueItem, uuid: str) -> dict[str, Any]:
        change = item.change
        return {"uuid": uuid, "tenant": tenant, "pipeline": item.pipeline,
                "project": change.project, "branch": change.branch, "change": change.number,
                "patchset": change.patchset, "ref": change.ref,
                "oldrev": change.oldrev or None, "newrev": change.newrev,
                "ref_url": change.url or None, "event_id": item.event_id,
                "event_timestamp": item.enqueue_time, "queue_item_uuid": item.uuid}

    def _record_buildset(self, tenant: str, item: QueueItem, action: str) -> None:
        """Buildsets in the history: stored on start, their result set when reported."""
        uuid = item.buildset_uuid
        context = f"event {item.event_id}"
        self._start_buildset(tenant, item, context)
        if action in ("success", "failure"):
            result = item.overall_result()
            message = "Build succeeded." if result == "SUCCESS" else "Build failed."
            self.history_writer.submit(HistoryOp.END_BUILDSET, uuid, result, message,
                                       context=context)

    def _start_buildset(self, tenant: str, item: QueueItem, context: str) -> None:
        """Queue the row of ``item``'s current buildset, once per buildset."""
        if item.__dict__.get("history_buildset") == item.buildset_uuid:
            return
        object.__setattr__(item, "history_buildset", item.buildset_uuid)  # not state
        self.history_writer.submit(HistoryOp.START_BUILDSET,
                                   self._buildset_row(tenant, item, item.buildset_uuid),
                                   context=context)

    def _record(self, tenant: str, item: QueueItem, build: Build) -> asyncio.Future[None]:
        """Queue ``build``'s history row (and its buildset's, if not queued yet); the
        future is done once it is committed. A failed write is logged by the writer with
        the event it belongs to; the queue goes on without the row."""
        change = item.change
        record = {
            "uuid": build.uuid, "buildset_uuid": build.buildset_uuid, "tenant": tenant,
            "pipeline": item.pipeline, "project": change.project, "branch": change.branch,
            "change": change.number, "patchset": change.patchset, "ref": change.ref,
            "oldrev": change.oldrev or None, "newrev": change.newrev,
            "ref_url": change.url or None, "event_id": item.event_id,
            "job_name": build.job.name, "result": build.result,
            "start_time": build.start_time, "end_time": build.end_time,
            "voting": build.job.voting, "log_url": build.log_url,
            "node_labels": build.job.nodeset, "error_detail": build.error,
            "held": build.held}
        context = f"event {item.event_id} build {build.uuid}"
        if build.buildset_uuid == item.buildset_uuid:
            self._start_buildset(tenant, item, context)
        else:  # a build of an earlier buildset of the item (reset since)
            self.history_writer.submit(
                HistoryOp.START_BUILDSET,
                self._buildset_row(tenant, item, build.buildset_uuid), context=context)
        return self.history_writer.submit(HistoryOp.ADD_BUILD, record, context=context)

    async def stop(self) -> None:
        """Cancel every build and report task; close reporter sessions."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.history_writer.close()
        for reporter in self.reporters.values():
            await reporter.close()
