"""Aggregate callback writing Zuul's ``job-output.json``: per play, per task, per host.

The file (path in ``ZUUL_JOB_OUTPUT_FILE``) is a list with one entry per playbook run:
``{"phase", "playbook", "plays": [{"play": {"name", "id", "duration"}, "tasks": [{"task":
{"name", "id", "duration"}, "hosts": {<host>: <result>}}]}], "stats": {<host>: {...}},
"trusted": false}`` - the format of Zuul's ``zuul_json`` callback, which the dashboard's
task summary and zuul-client read. It is written when the playbook ends.
"""
from __future__ import annotations

import datetime
import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: zuul_json
    type: aggregate
    short_description: Zuul's job-output.json
    description: Writes per-play, per-task, per-host results to ZUUL_JOB_OUTPUT_FILE.
"""

# Keys never copied into the output (can hold what the playbook was given).
HIDDEN = ("invocation", "_ansible_verbose_always", "_ansible_no_log")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CallbackModule(CallbackBase):
    """Collect results and write them as JSON at the end of the playbook."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "zuul_json"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.playbook: dict[str, Any] = {}
        self.play: dict[str, Any] | None = None
        self.task: dict[str, Any] | None = None

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self.playbook = {"phase": os.environ.get("ZUUL_JOB_PHASE", "run"),
                         "playbook": os.path.abspath(playbook._file_name), "plays": [],
                         "stats": {}, "trusted": False, "index": "0", "branch": None}

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._end_play()
        self.play = {"play": {"name": play.get_name(), "id": str(play._uuid),
                              "duration": {"start": _now()}}, "tasks": []}
        self.playbook["plays"].append(self.play)

    def _end_task(self) -> None:
        if self.task is not None:
            self.task["task"]["duration"]["end"] = _now()
            self.task = None

    def _end_play(self) -> None:
        self._end_task()
        if self.play is not None:
            self.play["play"]["duration"]["end"] = _now()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._end_task()
        if self.play is None:
            return
        self.task = {"role": {}, "task": {"name": task.get_name(), "id": str(task._uuid),
                                          "duration": {"start": _now()}}, "hosts": {}}
        self.play["tasks"].append(self.task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self.v2_playbook_on_task_start(task, False)

    def _result(self, result: Any, **flags: Any) -> None:
        if self.task is None:
            return
        data = {k: v for k, v in dict(result._result).items() if k not in HIDDEN}
        if result._task.no_log or data.get("_ansible_no_log"):
            data = {"censored": "the output has been hidden due to the fact that "
                                "'no_log: true' was specified for this result"}
        data.setdefault("action", result._task.action)
        data.update(flags)
        self.task["hosts"][result._host.get_name()] = data

    def v2_runner_on_ok(self, result: Any) -> None:
        self._result(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result(result, failed=True, **({"ignore_errors": True} if ignore_errors else {}))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result(result, unreachable=True)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._result(result, skipped=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._end_play()
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            self.playbook["stats"][host] = {
                "ok": summary["ok"], "changed": summary["changed"],
                "failures": summary["failures"], "skipped": summary["skipped"],
                "unreachable": summary["unreachable"], "rescued": summary["rescued"],
                "ignored": summary["ignored"]}
        path = os.environ.get("ZUUL_JOB_OUTPUT_FILE")
        if not path:
            return
        existing: list[Any] = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                existing = json.load(handle)
        existing.append(self.playbook)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(existing, handle, indent=2, default=str)
        os.replace(tmp, path)
