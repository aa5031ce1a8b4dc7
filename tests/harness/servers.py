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
from kazoo.exceptions import NoNodeError
from kazoo.security import OPEN_ACL_UNSAFE

from tests.harness.http import status_of
from tests.harness.pki import TestCA
from tests.harness.ports import free_port, port_open
from tests.harness.process import ManagedProcess, ProcessFailed
from zuul import apache
from zuul.lib import gearman
from zuul.lib.zk import make_client

BIN = Path(sys.executable).absolute().parent
ZOOKEEPER_CLASSPATH = ":".join(f"/usr/share/java/{jar}.jar" for jar in (
    "slf4j-simple", "zookeeper",
    # Debian's zookeeper.jar manifest leaves these out; the Netty (TLS) server needs them.
    "netty-codec", "netty-resolver"))


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
    """A standalone ZooKeeper from Debian's package, TLS only, with a private data dir and port.

    It listens only on ``secureClientPort`` (Netty, TLS 1.2+, client certificate required),
    with certificates from ``ca`` (a :class:`~tests.harness.pki.TestCA`; one is made in
    ``workdir`` if not given). ZooKeeper's X509 authentication provider turns each client
    certificate's subject into an ``x509`` identity usable in ACLs; ``CN=zk-admin``
    (:attr:`ADMIN`) is a super user for the harness's own housekeeping (chroots).
    Our services share the :attr:`SERVICES` identity (``CN=zuul-services``).
    """

    SERVER = "zookeeper-server"
    ADMIN = "zk-admin"
    SERVICES = "zuul-services"

    def __init__(self, workdir: Path, port: int | None = None,
                 ca: TestCA | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.ca = ca or TestCA(workdir / "pki")
        server = self.ca.identity(self.SERVER)
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        cfg = workdir / "zoo.cfg"
        cfg.write_text(
            "tickTime=500\n"
            f"dataDir={workdir / 'data'}\n"
            f"secureClientPort={self.port}\n"
            "secureClientPortAddress=127.0.0.1\n"
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
            f"ssl.keyStore.location={server.keystore}\n"
            "ssl.keyStore.type=PEM\n"
            f"ssl.trustStore.location={server.ca}\n"
            "ssl.trustStore.type=PEM\n"
            "ssl.clientAuth=need\n"
            "authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n"
            f"X509AuthenticationProvider.superUser=CN={self.ADMIN}\n"
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

    def conf(self, chroot: str = "", identity: str | None = None,
             acl: list[str] | None = None) -> dict[str, Any]:
        """A service's ``zookeeper:`` config section for this server (TLS as ``identity``).

        ``acl`` adds x509 identities (e.g. ``CN=nodepool-ext``) allowed on created znodes.
        """
        tls: dict[str, Any] = self.ca.identity(identity or self.SERVICES).tls_conf()
        if acl:
            tls["acl"] = list(acl)
        return {"hosts": [self.hosts], "chroot": chroot, "tls": tls}

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        client = make_client(self.conf(identity=self.ADMIN))
        try:
            client.start(timeout=2)
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False
        finally:
            client.stop()
            client.close()

    def client(self, chroot: str = "", identity: str | None = None) -> KazooClient:
        """A started kazoo client (caller stops it), as our services' identity by default."""
        client = make_client(self.conf(chroot, identity))
        client.start(timeout=10)
        return client

    def admin_client(self, chroot: str = "") -> KazooClient:
        """A started client with the super user identity (sees through every ACL)."""
        return self.client(chroot, self.ADMIN)

    def create_chroot(self, chroot: str) -> None:
        """Create ``chroot`` open to every client that passed the TLS handshake.

        What services then create inside it carries their own x509 ACLs.
        """
        client = self.admin_client()
        try:
            client.ensure_path(chroot, acl=OPEN_ACL_UNSAFE)
        finally:
            client.stop()
            client.close()

    def remove_chroot(self, chroot: str) -> None:
        """Delete ``chroot`` and everything in it, whatever its ACLs (as the super user)."""
        client = self.admin_client()
        try:
            client.delete(chroot, recursive=True)
        except NoNodeError:
            pass
        finally:
            client.stop()
            client.close()


class GearmanServer(ManagedProcess):
    """A gearman server: the ``geard`` command from the ``gear`` package.

    With ``ca`` (a :class:`~tests.harness.pki.TestCA`) it is TLS only, as deployed: its
    certificate is ``CN=geard`` and every client must present a certificate of ``ca``
    (gear's ``CERT_REQUIRED``). :meth:`conf` is a service's ``gearman:`` section for it.
    """

    SERVER = "geard"
    CLIENT = "zuul-services"

    LOG_CONFIG = (
        "[loggers]\nkeys=root\n[handlers]\nkeys=stderr\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=WARNING\nhandlers=stderr\n"
        "[handler_stderr]\nclass=StreamHandler\nformatter=plain\nargs=(sys.stderr,)\n"
        "[formatter_plain]\nformat=%(asctime)s %(levelname)s %(name)s: %(message)s\n")

    def __init__(self, workdir: Path, port: int | None = None, nodelay: bool = False,
                 ca: TestCA | None = None, acl: dict[str, dict[str, str]] | None = None) -> None:
        self.port = port or free_port()
        self.ca = ca
        log_config = workdir / "geard-logging.ini"
        log_config.write_text(self.LOG_CONFIG)
        # nodelay: the same geard with TCP_NODELAY on its connections (zuul.lib.gearman).
        command = [sys.executable, "-m", "zuul.lib.gearman"] if nodelay \
            else [console_script("geard")]
        tls: list[str] = []
        if ca is not None:
            server = ca.identity(self.SERVER)
            tls = ["--ssl-ca", str(server.ca), "--ssl-cert", str(server.cert),
                   "--ssl-key", str(server.key)]
        if acl is not None:  # gear's ACL: {common name: {"register"/"invoke": regex}}
            acl_file = workdir / f"geard-acl-{self.port}.ini"
            acl_file.write_text("".join(
                f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in rules.items())
                for name, rules in acl.items()))
            tls += ["--acl", str(acl_file)]
        super().__init__(
            "geard", [*command, "-d", "-p", str(self.port),
                      "--listen-address", "127.0.0.1", "--log-config", str(log_config), *tls],
            workdir / f"geard-{self.port}.log", ready=self._ready)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def conf(self, identity: str | None = None) -> dict[str, Any]:
        """A service's ``gearman:`` section for this server (TLS as ``identity``)."""
        section: dict[str, Any] = {"servers": [self.address]}
        if self.ca is not None:
            client = self.ca.identity(identity or self.CLIENT)
            section.update(ssl_key=str(client.key), ssl_cert=str(client.cert),
                           ssl_ca=str(client.ca))
        return section

    def client(self, name: str = "harness", identity: str | None = None) -> gear.Client:
        """A gear client connected to this server (caller shuts it down)."""
        client = gear.Client(name)
        gearman.add_servers(client, self.conf(identity))
        try:
            client.waitForServer(timeout=10)
        except gear.TimeoutError:
            client.shutdown()
            raise
        return client

    def _ready(self) -> bool:
        if not port_open(self.port):
            return False
        client = gear.Client("harness")
        gearman.add_servers(client, self.conf())
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
