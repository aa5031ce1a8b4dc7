"""A test's view of the real system: start any mix of servers, all stopped at teardown.

``Stack`` is what the ``stack`` fixture yields. Areas add their own services with
:meth:`Stack.service`, which takes any console script and config dict.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness.http import status_of
from tests.harness.pki import TestCA
from tests.harness.ports import free_port
from tests.harness.process import ManagedProcess, ProcessGroup, wait_for
from tests.harness.servers import ApacheServer, GearmanServer, HTTPService, ZooKeeperServer


class Stack:
    """Starts real processes for one test in ``workdir`` and remembers them in ``procs``."""

    def __init__(self, workdir: Path, procs: ProcessGroup,
                 zookeeper: ZooKeeperServer | None = None, zk_chroot: str = "",
                 ca: TestCA | None = None) -> None:
        self.workdir = workdir
        self.procs = procs
        self.zookeeper = zookeeper
        self.zk_chroot = zk_chroot
        # The test CA: with it gearman servers run TLS only (as deployed).
        self.ca = ca or (zookeeper.ca if zookeeper is not None else None)

    def add(self, process: ManagedProcess) -> Any:
        """Start ``process`` and register it for teardown."""
        self.procs.add(process)
        return process.start()

    def gearman(self, nodelay: bool = False) -> GearmanServer:
        """A fresh gearman server (``geard``; with TCP_NODELAY if ``nodelay``) for this test,
        TLS only when the stack has a CA (the test fixtures give it the session's)."""
        return self.add(GearmanServer(self.workdir, nodelay=nodelay, ca=self.ca))

    def zookeeper_conf(self) -> dict[str, Any]:
        """The ``zookeeper:`` section for our services: the session's server, chroot, TLS."""
        assert self.zookeeper is not None, "this test needs the zookeeper fixture"
        return {**self.zookeeper.conf(self.zk_chroot), "session_timeout": 4.0}

    def service(self, name: str, script: str, config: dict[str, Any],
                port: int | None = None, extra_args: list[str] | None = None,
                env: dict[str, str] | None = None) -> HTTPService:
        """Start one of our console scripts; ``config['api']`` gets listen/port filled in."""
        port = port or free_port()
        config = {**config, "api": {"listen": "127.0.0.1", "port": port,
                                    **config.get("api", {})}}
        return self.add(HTTPService(name, script, config, self.workdir, port,
                                    extra_args, env))

    def scheduler(self, gearman: GearmanServer | None = None, **config: Any) -> HTTPService:
        """``zuul-scheduler``: against ``gearman`` if given, else its in-process server."""
        config.setdefault("state_dir", str(self.workdir / "scheduler-state"))
        if gearman is not None:
            config.setdefault("gearman", gearman.conf())
        else:
            config.setdefault("gearman_server", {"start": True, "listen": "127.0.0.1",
                                                 "port": free_port()})
        return self.service("zuul-scheduler", "zuul-scheduler", config)

    def launcher(self, name: str = "nodepool-launcher", **config: Any) -> HTTPService:
        """``nodepool-launcher`` on the session's ZooKeeper (this test's chroot), once ready.

        Ready means its ZooKeeper session is up (a TLS handshake takes a moment).
        """
        config.setdefault("zookeeper", self.zookeeper_conf())
        launcher = self.service(name, "nodepool-launcher", config)
        wait_for(lambda: status_of(launcher.url + "/health/ready", timeout=1) == 200, 30,
                 what=f"{name} connected to ZooKeeper")
        return launcher

    def apache(self, zuul: dict[str, Any], nodepool: dict[str, Any] | None = None,
               **deployment: Any) -> ApacheServer:
        """Apache httpd with a standalone config generated from this deployment."""
        deployment["zuul"] = zuul
        if nodepool is not None:
            deployment["nodepool"] = nodepool
        apache_dir = self.workdir / f"apache-{len(self.procs.processes)}"
        apache_dir.mkdir()
        return self.add(ApacheServer(deployment, apache_dir))
