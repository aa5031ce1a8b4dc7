"""Zuul's build outputs beside ``console.log``: ``job-output.txt``, ``job-output.json`` and
``zuul-info/inventory.yaml`` (what ``zuul-client build-info --show-job-output/--show-inventory``
and the dashboard's task summary read).

- ``job-output.json`` is written by the ``zuul_json`` Ansible callback into the work dir (the
  playbook may run in a sandbox that cannot write the log dir) and copied when it ends;
- ``job-output.txt`` is the console log's text;
- ``zuul-info/inventory.yaml`` is the build's inventory with the ``zuul`` variables (never the
  job's variables or secrets).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

JSON_NAME = "job-output.json"
TEXT_NAME = "job-output.txt"
INVENTORY = Path("zuul-info") / "inventory.yaml"


def ansible_env(work_dir: Path) -> dict[str, str]:
    """Environment that enables the ``zuul_json`` callback for this build."""
    return {"ANSIBLE_CALLBACKS_ENABLED": "zuul_json",
            "ZUUL_JOB_OUTPUT_FILE": str(work_dir / JSON_NAME)}


def write_inventory(log_dir: Path, inventory: dict[str, Any], zuul: dict[str, Any]) -> None:
    """``zuul-info/inventory.yaml``: the hosts plus ``all.vars.zuul``."""
    data = {"all": {**inventory.get("all", {}), "vars": {"zuul": zuul}}}
    path = log_dir / INVENTORY
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=True, default_flow_style=False))


def finish(log_dir: Path, work_dir: Path, console_log: Path) -> None:
    """Copy ``job-output.json`` from the work dir and write ``job-output.txt``."""
    produced = work_dir / JSON_NAME
    target = log_dir / JSON_NAME
    if produced.is_file():
        shutil.copyfile(produced, target)
    elif not target.exists():
        target.write_text("[]\n")
    if console_log.is_file():
        shutil.copyfile(console_log, log_dir / TEXT_NAME)
    for path in (target, log_dir / TEXT_NAME):
        if path.exists():
            path.chmod(0o644)
