"""The real services behind an Apache that serves Zuul's own dashboard at its root.

Zuul's dashboard (the built React app in ``zuul/web/static`` of the ``zuul`` 14.3.0 wheel,
unmodified) loads ``/assets/...`` and computes its API base as ``<origin>/api/``, routing by
path (``/t/<tenant>/status``): so the vhost is rendered with the zuul prefix ``/`` and
``dashboard_routing: path`` (every unknown path is its ``index.html``).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.realstack import DashboardStack
from tests.harness.stack import Stack
from tests.nodepool.external import EXT

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def zuul_dashboard_root() -> Path:
    """``zuul/web/static`` of the zuul 14.3.0 wheel in ``.venv-ext/zuul`` (skip if absent;
    ``$ZUUL_DASHBOARD_STATIC`` names another copy)."""
    if os.environ.get("ZUUL_DASHBOARD_STATIC"):
        return Path(os.environ["ZUUL_DASHBOARD_STATIC"])
    found = sorted(EXT.glob("zuul/lib/python3*/site-packages/zuul/web/static/index.html"))
    if not found:
        pytest.skip(".venv-ext/zuul has no Zuul dashboard: ./run-tests installs zuul==14.3.0")
    return found[0].parent


def start(stack: Stack, github_url: str, auth: dict[str, Any]) -> DashboardStack:
    """geard, the scheduler (executor in process), a launcher, the log streamer, Apache."""
    workdir = stack.workdir
    log_root = workdir / "logs"
    log_root.mkdir(mode=0o755)
    shutil.copytree(FIXTURES / "config-repo", workdir / "config-repo")
    tenants = workdir / "tenant.yaml"
    tenants.write_text((FIXTURES / "tenant.yaml").read_text())
    geard = stack.gearman()
    launcher = stack.launcher(
        labels=[{"name": "local", "min-ready": 1}],
        providers=[{"name": "localhost", "driver": "local",
                    "pools": [{"name": "main", "max-servers": 4, "labels": ["local"]}]}])
    scheduler = stack.scheduler(
        geard, tenant_config=str(tenants), auth=auth, zookeeper=stack.zookeeper_conf(),
        connections={"github": {"api_url": github_url, "token": "t"}},
        executor={"log_root": str(log_root), "max_concurrent": 2})
    # The streamer registers itself in ZooKeeper (GET /api/components lists it).
    streamer_conf: dict[str, Any] = {"log_root": str(log_root),
                                     "zookeeper": stack.zookeeper_conf()}
    streamer = stack.service("zuul-log-streamer", "zuul-log-streamer", streamer_conf)
    apache = stack.apache(
        zuul={"prefix": "/", "dashboard_root": str(zuul_dashboard_root()),
              "dashboard_routing": "path", "log_root": str(log_root),
              "scheduler": f"127.0.0.1:{scheduler.port}",
              "streamer": f"127.0.0.1:{streamer.port}"},
        nodepool={"launcher": f"127.0.0.1:{launcher.port}"})
    return DashboardStack(apache, scheduler, geard, "/", streamer)
