"""A build's work dir: inventory, extra vars, Ansible's environment and the change's source.

With a ``merge`` parameter the source is the speculative future state, prepared by the
executor's own :class:`zuul.merger.Merger` under ``src/<canonical name>/`` and checked
against the commits the scheduler's merger got; ``zuul.projects`` describes it.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from zuul.executor.model import BuildRequest
from zuul.merger import Merger, MergeSpec
from zuul.merger.merger import MergeFailure
from zuul.merger.model import CANONICAL_HOSTNAME, project_vars

CALLBACK_DIR = Path(__file__).resolve().parent.parent / "ansible" / "callback"
GIT_TIMEOUT = 60.0


def default_ansible_playbook() -> str:
    """The ``ansible-playbook`` installed next to this Python (the venv's)."""
    return str(Path(sys.executable).absolute().parent / "ansible-playbook")


def inventory(request: BuildRequest) -> dict[str, Any]:
    """An Ansible YAML inventory for the build's nodes.

    Local nodes get ``ansible_python_interpreter`` set to this Python, so interpreter
    discovery never picks a shim for a Python that is not installed.
    """
    hosts: dict[str, dict[str, Any]] = {}
    for node in request.nodes:
        connection = node.get("connection", "ssh")
        host_vars: dict[str, Any] = {
            "ansible_host": node.get("host", node["name"]),
            "ansible_connection": connection,
        }
        if node.get("port"):
            host_vars["ansible_port"] = int(node["port"])
        if node.get("username"):
            host_vars["ansible_user"] = node["username"]
        if connection == "local":
            host_vars["ansible_python_interpreter"] = sys.executable
        hosts[node["name"]] = host_vars
    return {"all": {"hosts": hosts}}


def zuul_vars(request: BuildRequest, work_dir: Path, log_dir: Path,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``zuul`` extra var: the scheduler's variables plus job, build and paths."""
    variables = dict(request.zuul_vars)
    variables.update(extra or {})
    variables.update({
        "job": request.job,
        "build": request.uuid,
        "executor": {"work_root": str(work_dir), "src_root": str(work_dir / "src"),
                     "log_root": str(log_dir)},
    })
    return {**request.variables, "zuul": variables}


def ansible_env(work_dir: Path, all_local: bool) -> dict[str, str]:
    """Environment for ``ansible-playbook``: state inside the work dir, unbuffered output."""
    ansible_home = work_dir / ".ansible"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "ANSIBLE_HOME": str(ansible_home),
        "ANSIBLE_LOCAL_TEMP": str(ansible_home / "tmp"),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_STDOUT_CALLBACK": "zuul_console",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o BatchMode=yes",
    }
    if all_local:
        env["ANSIBLE_REMOTE_TEMP"] = str(ansible_home / "remote_tmp")
    env.pop("ANSIBLE_CONFIG", None)
    return env


def write_inputs(request: BuildRequest, work_dir: Path, log_dir: Path,
                 extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``inventory.yaml`` and ``vars.json`` into the work dir; return their paths."""
    (work_dir / ".ansible" / "tmp").mkdir(parents=True, exist_ok=True)
    inventory_path = work_dir / "inventory.yaml"
    inventory_path.write_text(yaml.safe_dump(inventory(request), sort_keys=True))
    vars_path = work_dir / "vars.json"
    vars_path.write_text(json.dumps(zuul_vars(request, work_dir, log_dir, extra), indent=2))
    return inventory_path, vars_path


async def _git(args: list[str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), GIT_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def checkout_source(request: BuildRequest, work_dir: Path,
                          log: Callable[[str], None]) -> Path | None:
    """Clone ``project_git_url`` into ``src/`` and check out ``ref``; None if unreachable.

    An unreachable repository or ref is logged to the console and the build goes on: the
    playbook decides whether it needs the source.
    """
    if not request.project_git_url:
        return None
    src = work_dir / "src" / "project"
    src.parent.mkdir(parents=True, exist_ok=True)
    steps = [["clone", "--quiet", "--no-checkout", request.project_git_url, str(src)]]
    if request.ref:
        steps.append(["-C", str(src), "fetch", "--quiet", "origin", request.ref])
        steps.append(["-C", str(src), "checkout", "--quiet", "--detach", "FETCH_HEAD"])
    else:
        steps.append(["-C", str(src), "checkout", "--quiet"])
    try:
        for step in steps:
            code, out = await _git(step, work_dir)
            if code != 0:
                command = step[2] if step[0] == "-C" else step[0]
                reason = out.splitlines()[-1] if out else f"exit {code}"
                log(f"[zuul] source not checked out: git {command} failed: {reason}")
                return None
    except TimeoutError:
        log(f"[zuul] source not checked out: git timed out after {GIT_TIMEOUT:.0f}s")
        return None
    code, head = await _git(["-C", str(src), "rev-parse", "HEAD"], work_dir)
    log(f"[zuul] checked out {request.project_git_url} {request.ref or ''} at {head}")
    return src


class FutureStateError(RuntimeError):
    """The speculative future state could not be prepared as the scheduler described it."""


async def prepare_future_state(request: BuildRequest, work_dir: Path, merger: Merger,
                               log: Callable[[str], None]) -> dict[str, Any]:
    """Prepare ``request.merge`` under ``src/``; return ``{"projects": zuul.projects}``.

    Raises :class:`FutureStateError` when a project cannot be merged or its commit is not
    the one the scheduler's merger computed (then the build must not run).
    """
    assert request.merge is not None
    spec = MergeSpec.from_dict(request.merge)
    expected: dict[str, str] = request.merge.get("expected", {})
    src = work_dir / "src" / CANONICAL_HOSTNAME
    try:
        outcome = await merger.prepare(spec, src)
    except MergeFailure as exc:
        raise FutureStateError(str(exc)) from None
    projects: dict[str, Any] = {}
    for project in spec.projects:
        commit = outcome.commits[project.name]
        want = expected.get(project.name)
        if want and want != commit:
            raise FutureStateError(f"{project.name}: prepared {commit}, the scheduler's "
                                   f"merger got {want}")
        names = project_vars(project.name)
        projects[names["canonical_name"]] = {
            **names, "required": project.name in request.merge.get("required", []),
            "checkout": project.branch, "checkout_description": "zuul branch",
            "commit": commit}
        log(f"[zuul] prepared {project.name} {project.branch} at {commit}")
    return {"projects": projects}
