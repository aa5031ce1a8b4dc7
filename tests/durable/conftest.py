"""Durable-area helpers: a scheduler with its state in ZooKeeper, counted checks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from tests.harness.http import get
from tests.harness.servers import GearmanServer, HTTPService
from tests.harness.stack import Stack
from tests.scheduler.conftest import (  # noqa: F401
    edit_tenant,
    items,
    start_scheduler,
    status,
    tenant_file,
)
from tests.scheduler.github_api import GitHubAPI

# A job playbook that runs until the test creates the file ``release`` names.
HOLD = """- hosts: all
  gather_facts: false
  tasks:
    - name: Wait until the test lets the build end
      ansible.builtin.wait_for:
        path: "{{ release }}"
        timeout: 300
"""


def held_job_tenant(workdir: Path, release: Path) -> Path:
    """A copy of the scheduler tests' tenant where org/nodes runs ``held-on-node`` in check:
    one ``ubuntu-jammy`` node, holding it until the test creates ``release``."""
    tenants = tenant_file(workdir)
    (workdir / "config-repo" / "playbooks" / "hold.yaml").write_text(HOLD)

    def held_job(data: dict[str, Any]) -> None:
        tenant = data["tenants"][0]
        tenant["jobs"].append({"name": "held-on-node", "playbook": "playbooks/hold.yaml",
                               "nodeset": ["ubuntu-jammy"], "vars": {"release": str(release)}})
        for project in tenant["projects"]:
            if project["name"] == "org/nodes":
                project["pipelines"] = {"check": ["held-on-node"]}

    edit_tenant(tenants, held_job)
    return tenants


def sha(number: int) -> str:
    """The head sha the durable tests give pull request ``number``."""
    return f"{number:02d}" * 20


def node_records(client: KazooClient, locks: bool = False) -> list[dict[str, Any]]:
    """Every Nodepool node record under ``/nodepool/nodes`` (with ``locked``, whether anybody
    holds its lock, when ``locks``); nodes deleted meanwhile are skipped."""
    found = []
    try:
        node_ids = client.get_children("/nodepool/nodes")
    except NoNodeError:
        return []
    for node_id in node_ids:
        try:
            record = json.loads(client.get(f"/nodepool/nodes/{node_id}")[0])
            if locks:
                record["locked"] = bool(client.get_children(f"/nodepool/nodes/{node_id}/lock"))
        except NoNodeError:
            continue
        found.append(record)
    return found


def durable_scheduler(stack: Stack, geard: GearmanServer, github: GitHubAPI, tenants: Path,
                      **extra: Any) -> HTTPService:
    """A zuul-scheduler keeping its pipeline state in the test's ZooKeeper chroot."""
    if "zookeeper" not in extra:
        extra["zookeeper"] = stack.zookeeper_conf()
    return start_scheduler(stack, geard, github, tenants, **extra)


def item_ids(url: str, pipeline: str) -> list[str]:
    """Change ids of the items of ``pipeline``, in queue order (empty when the API is down)."""
    try:
        return [i["refs"][0]["id"] for i in items(status(url), pipeline)]
    except OSError:
        return []


def builds(url: str, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return get(f"{url}/api/tenant/example/builds?{qs}").json()


def processes_under(root: Path) -> list[psutil.Process]:
    """Live processes working in (or naming) a directory under ``root``, as found by one
    scan: read what it saw from ``proc.info`` (``cwd``, ``cmdline``, ``status``); asking the
    process again can find it exited meanwhile (a zombie: ``psutil.ZombieProcess``)."""
    found = []
    for proc in psutil.process_iter(["cwd", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cwd = proc.info.get("cwd") or ""
            cmdline = proc.info.get("cmdline") or []
        except psutil.Error:
            continue
        if cwd.startswith(str(root)) or any(str(root) in a for a in cmdline):
            found.append(proc)
    return found


def executor(stack: Stack, name: str, log_root: Path, **extra: Any) -> HTTPService:
    """A ``zuul-executor`` on the test's ZooKeeper chroot, with its own work dir."""
    config = {"zookeeper": stack.zookeeper_conf(),
              "state_dir": str(stack.workdir / f"executor-{name}"),
              "executor": {"name": name, "log_root": str(log_root), "max_concurrent": 4,
                           **extra}}
    return stack.service(f"zuul-executor-{name}", "zuul-executor", config)


def executor_running(service: HTTPService) -> list[str]:
    """UUIDs of the builds ``service`` runs now (empty when it does not answer)."""
    try:
        return get(service.url + "/api/executor").json()["running"]
    except (OSError, ValueError):
        return []
