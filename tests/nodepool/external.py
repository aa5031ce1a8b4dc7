"""Real Nodepool 11 and Zuul 14, from their own venvs (``./run-tests`` makes ``.venv-ext/``).

Their top-level packages (``nodepool``, ``zuul``) clash with ours, so they never enter the
project venv: a real ``nodepool-launcher`` runs as a child process, and Zuul 14's ZooKeeper
code runs in a script under ``.venv-ext/zuul/bin/python``. Both connect to the test
ZooKeeper over TLS with their own certificates (``CN=nodepool-ext``, ``CN=zuul-ext``).
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from nodepool.zk import NodepoolStore
from tests.harness.ports import free_port
from tests.harness.process import ManagedProcess, ProcessFailed
from tests.harness.servers import ZooKeeperServer, write_yaml

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / ".venv-ext"
NODEPOOL_IDENTITY = "nodepool-ext"
ZUUL_IDENTITY = "zuul-ext"
EXTERNAL_ACL = [f"CN={NODEPOOL_IDENTITY}", f"CN={ZUUL_IDENTITY}"]


def ext_bin(venv: str, name: str) -> Path:
    """A program of one of the external venvs; fails clearly when it is missing."""
    path = EXT / venv / "bin" / name
    if not path.exists():
        raise ProcessFailed(f"{path} is missing: ./run-tests creates .venv-ext/{venv}")
    return path


def nodepool_config(zookeeper: ZooKeeperServer, chroot: str, workdir: Path,
                    labels: list[str] | None = None,
                    nodes: list[dict[str, Any]] | None = None,
                    provider: str = "real-static") -> Path:
    """A real Nodepool 11 config (static driver) on the test's ZooKeeper, over TLS."""
    tls = zookeeper.ca.identity(NODEPOOL_IDENTITY)
    config: dict[str, Any] = {
        "zookeeper-servers": [{"host": "127.0.0.1", "port": zookeeper.port, "chroot": chroot}],
        "zookeeper-tls": {"cert": str(tls.cert), "key": str(tls.key), "ca": str(tls.ca)},
        "zookeeper-timeout": 10,
        "webapp": {"port": free_port(), "listen_address": "127.0.0.1"},
        "labels": [{"name": label} for label in labels or []],
        "providers": [],
    }
    if nodes:
        config["providers"] = [{"name": provider, "driver": "static",
                                "pools": [{"name": "main", "nodes": nodes}]}]
    return write_yaml(workdir / f"real-nodepool-{provider}.yaml", config)


class RealNodepoolLauncher(ManagedProcess):
    """``nodepool-launcher -f`` of PyPI's Nodepool 11; ready once its pools registered."""

    def __init__(self, config: Path, store: NodepoolStore, provider: str,
                 workdir: Path) -> None:
        self.store = store
        self.provider = provider
        super().__init__(
            "real-nodepool-launcher",
            [str(ext_bin("nodepool", "nodepool-launcher")), "-f", "-c", str(config)],
            workdir / f"real-nodepool-launcher-{provider}.log", ready=self._ready,
            start_timeout=60, stop_timeout=15)

    def _ready(self) -> bool:
        return any(p.get("provider_name") == self.provider for p in self.store.pools())


def nodepool_cli(config: Path, *args: str) -> str:
    """Run the real ``nodepool`` command against the test ZooKeeper; return its stdout."""
    done = subprocess.run([str(ext_bin("nodepool", "nodepool")), "-c", str(config), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"nodepool {' '.join(args)} exited {done.returncode}: "
                             f"{done.stderr[-2000:]}")
    return done.stdout


def run_zuul_script(script: str, *args: str, timeout: float = 60) -> str:
    """Run ``script`` with Zuul 14's Python (``zuul`` importable); return its stdout."""
    # -I: isolated, so our checkout (the working directory) cannot shadow Zuul 14.
    done = subprocess.run([str(ext_bin("zuul", "python")), "-I", "-c", script, *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"Zuul 14 script exited {done.returncode}: "
                             f"{done.stderr[-3000:]}")
    return done.stdout
