"""The real servers tests run: Apache httpd, ZooKeeper, a gearman server, our services.

Each is a :class:`ManagedProcess` on a free loopback port, started in the foreground as a child
of the test process and stopped by PID.
"""
from __future__ import annotations

import resource
import shutil
import sys
from pathlib import Path
from typing import Any

import gear
import yaml
from kazoo.client import KazooClient

from tests.harness.http import status_of
from tests.harness.ports import free_port, port_open
from tests.harness.process import ManagedProcess, ProcessFailed
from zuul import apache

BIN = Path(sys.executable).parent
ZOOKEEPER_CLASSPATH = "/usr/share/java/slf4j-simple.jar:/usr/share/java/zookeeper.jar"


def console_script(name: str) -> str:
    """Path of one of this venv's console scripts."""
    path = BIN / name
    if not path.exists():
        raise ProcessFailed(f"console script {name} not installed in {BIN}")
    return str(path)


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def raise_nofile(needed: int) -> None:
    """Raise this process's open-files soft limit to ``needed`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class ZooKeeperServer(ManagedProcess):
    """A standalone ZooKeeper from Debian's package, with a private data dir and port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        cfg = workdir / "zoo.cfg"
        cfg.write_text(
            "tickTime=500\n"
            f"dataDir={workdir / 'data'}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,stat\n"
            "maxClientCnxns=0\n"
            "minSessionTimeout=1000\n")
        java = shutil.which("java") or "/usr/bin/java"
        super().__init__(
            "zookeeper",
            [java, "-Xmx256m", f"-Dzookeeper.log.dir={workdir}", "-cp", ZOOKEEPER_CLASSPATH,
             "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)],
            workdir / "zookeeper.log", ready=self._ready, start_timeout=30)

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        client = KazooClient(hosts=self.hosts, timeout=2)
        try:
            client.start(timeout=2)
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False
        finally:
            client.stop()
            client.close()

    def client(self, chroot: str = "") -> KazooClient:
        """A started kazoo client (caller stops it)."""
        client = KazooClient(hosts=self.hosts + chroot, timeout=5)
        client.start(timeout=10)
        return client


class GearmanServer(ManagedProcess):
    """A gearman server: the ``geard`` command from the ``gear`` package."""

    LOG_CONFIG = (
        "[loggers]\nkeys=root\n[handlers]\nkeys=stderr\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=WARNING\nhandlers=stderr\n"
        "[handler_stderr]\nclass=StreamHandler\nformatter=plain\nargs=(sys.stderr,)\n"
        "[formatter_plain]\nformat=%(asctime)s %(levelname)s %(name)s: %(message)s\n")

    def __init__(self, workdir: Path, port: int | None = None, nodelay: bool = False) -> None:
        self.port = port or free_port()
        log_config = workdir / "geard-logging.ini"
        log_config.write_text(self.LOG_CONFIG)
        # nodelay: the same geard with TCP_NODELAY on its connections (zuul.lib.gearman).
        command = [sys.executable, "-m", "zuul.lib.gearman"] if nodelay \
            else [console_script("geard")]
        super().__init__(
            "geard", [*command, "-d", "-p", str(self.port),
                      "--listen-address", "127.0.0.1", "--log-config", str(log_config)],
            workdir / f"geard-{self.port}.log", ready=self._ready)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        client = gear.Client("harness")
        client.addServer("127.0.0.1", self.port)
        try:
            client.waitForServer(timeout=2)
            return True
        except gear.TimeoutError:
            return False
        finally:
            client.shutdown()


class HTTPService(ManagedProcess):
    """One of our services, started by its console script with ``-c CONFIG``."""

    def __init__(self, name: str, script: str, config: dict[str, Any], workdir: Path,
                 port: int, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = port
        self.config_path = write_yaml(workdir / f"{name}.yaml", config)
        super().__init__(
            name, [console_script(script), "-c", str(self.config_path), "--foreground",
                   *(extra_args or [])],
            workdir / f"{name}.log", ready=self._ready, env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        return status_of(self.url + "/health/live", timeout=1) == 200


class ApacheServer(ManagedProcess):
    """Apache httpd running a standalone config generated by ``zuul-apache-vhost``."""

    def __init__(self, deployment: dict[str, Any], workdir: Path,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.deployment = apache.validate_deployment({**deployment, "port": self.port})
        self.conf_path = apache.write_standalone(self.deployment, workdir,
                                                 listen_address="127.0.0.1")
        raise_nofile(apache.mpm_sizing(self.deployment)["nofile"])
        (workdir / "htdocs").mkdir(exist_ok=True)
        binary = shutil.which("apache2") or "/usr/sbin/apache2"
        super().__init__(
            "apache", [binary, "-f", str(self.conf_path), "-D", "FOREGROUND"],
            workdir / "logs" / "apache-console.log", ready=self._ready, stop_timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        return port_open(self.port)

    def error_log(self) -> str:
        return (self.workdir / "logs" / "error.log").read_text(errors="replace")
