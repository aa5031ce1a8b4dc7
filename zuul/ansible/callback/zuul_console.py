"""Stdout callback for Zuul builds: one plain line per event, flushed at once.

The executor reads these lines from ``ansible-playbook``'s stdout and writes them, with
timestamps, to the build's console log. Each task's result is printed as soon as it (or each
loop item) finishes, with the command's stdout/stderr split into lines, so a live viewer sees
output per task and per loop item rather than at the end of the play.
"""
from __future__ import annotations

import sys
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: zuul_console
    type: stdout
    short_description: plain, line-flushed console output for Zuul build logs
    description: Prints task names, per-host status and command output line by line.
"""


def _host(result: Any) -> str:
    return result._host.get_name()


def _payload(result: Any) -> dict[str, Any]:
    return dict(result._result)


class CallbackModule(CallbackBase):
    """Print one line per event and flush it."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "zuul_console"

    def _emit(self, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def _emit_output(self, host: str, data: dict[str, Any]) -> None:
        for key in ("stdout", "stderr"):
            text = data.get(key)
            if isinstance(text, str) and text:
                for line in text.splitlines():
                    self._emit(f"{host} | {line}")
        if "msg" in data and isinstance(data["msg"], (str, int, float, bool)):
            for line in str(data["msg"]).splitlines():
                self._emit(f"{host} | {line}")

    def _status(self, result: Any, status: str) -> None:
        data = _payload(result)
        host = _host(result)
        self._emit_output(host, data)
        item = ""
        if "item" in data or "ansible_loop_var" in data:
            loop_var = data.get("ansible_loop_var", "item")
            item = f" (item={data.get(loop_var)})"
        rc = f" rc={data['rc']}" if isinstance(data.get("rc"), int) else ""
        self._emit(f"{host} | {status}{item}{rc}")

    def v2_playbook_on_play_start(self, play: Any) -> None:
        """A play starts."""
        self._emit(f"PLAY [{play.get_name().strip()}]")

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        """A task starts."""
        self._emit(f"TASK [{task.get_name().strip()}]")

    def v2_runner_on_ok(self, result: Any) -> None:
        """A task succeeded on a host (loops: after all items)."""
        if "results" in _payload(result):
            return
        self._status(result, "changed" if _payload(result).get("changed") else "ok")

    def v2_runner_item_on_ok(self, result: Any) -> None:
        """One loop item succeeded."""
        self._status(result, "changed" if _payload(result).get("changed") else "ok")

    def v2_runner_item_on_failed(self, result: Any) -> None:
        """One loop item failed."""
        self._status(result, "FAILED")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        """A task failed on a host."""
        if "results" in _payload(result):
            self._emit(f"{_host(result)} | FAILED")
            return
        self._status(result, "FAILED (ignored)" if ignore_errors else "FAILED")

    def v2_runner_on_skipped(self, result: Any) -> None:
        """A task was skipped on a host."""
        self._emit(f"{_host(result)} | skipping")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        """A host could not be reached."""
        self._status(result, "UNREACHABLE")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        """The play recap."""
        self._emit("PLAY RECAP")
        for host in sorted(stats.processed):
            s = stats.summarize(host)
            self._emit(f"{host} | ok={s['ok']} changed={s['changed']} failed={s['failures']} "
                       f"unreachable={s['unreachable']} skipped={s['skipped']}")
