"""A 3-server ZooKeeper ensemble for tests (TLS client ports, like the single server).

Each server is a :class:`ManagedProcess` running ``QuorumPeerMain`` on free loopback ports
(client TLS port, quorum port, election port); the quorum traffic stays plaintext on
loopback. :meth:`ZooKeeperEnsemble.leader` asks each server's ``srvr`` over TLS which one
leads, so a test can kill exactly the leader.
"""
from __future__ import annotations

import shutil
import socket
import ssl
from pathlib import Path
from typing import Any

from kazoo.security import OPEN_ACL_UNSAFE

from tests.harness.pki import TestCA
from tests.harness.ports import free_ports, port_open
from tests.harness.process import ManagedProcess, wait_for
from tests.harness.servers import ZOOKEEPER_CLASSPATH, ZooKeeperServer
from zuul.lib.zk import make_client


class EnsembleMember(ManagedProcess):
    """One server of an ensemble."""

    def __init__(self, myid: int, workdir: Path, config: str, port: int) -> None:
        self.myid = myid
        self.port = port
        data = workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{myid}\n")
        cfg = workdir / "zoo.cfg"
        cfg.write_text(config.replace("@DATA@", str(data)).replace("@PORT@", str(port)))
        java = shutil.which("java") or "/usr/bin/java"
        super().__init__(
            f"zookeeper-{myid}",
            [java, "-Xmx192m", f"-Dzookeeper.log.dir={workdir}", "-cp", ZOOKEEPER_CLASSPATH,
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)],
            workdir / "zookeeper.log", ready=lambda: port_open(port), start_timeout=30)


class ZooKeeperEnsemble:
    """Three ZooKeeper servers forming one ensemble, with the session CA's certificates."""

    SERVER = ZooKeeperServer.SERVER
    ADMIN = ZooKeeperServer.ADMIN
    SERVICES = ZooKeeperServer.SERVICES

    def __init__(self, workdir: Path, ca: TestCA, size: int = 3) -> None:
        self.ca = ca
        server = ca.identity(self.SERVER)
        chosen = free_ports(3 * size)
        ports = [(chosen[3 * i], chosen[3 * i + 1], chosen[3 * i + 2]) for i in range(size)]
        peers = "".join(f"server.{i + 1}=127.0.0.1:{q}:{e}\n"
                        for i, (_c, q, e) in enumerate(ports))
        config = (
            "tickTime=500\ninitLimit=20\nsyncLimit=10\n"
            "dataDir=@DATA@\n"
            "secureClientPort=@PORT@\nsecureClientPortAddress=127.0.0.1\n"
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
            f"ssl.keyStore.location={server.keystore}\nssl.keyStore.type=PEM\n"
            f"ssl.trustStore.location={server.ca}\nssl.trustStore.type=PEM\n"
            "ssl.clientAuth=need\n"
            "authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n"
            f"X509AuthenticationProvider.superUser=CN={self.ADMIN}\n"
            "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat\n"
            "maxClientCnxns=0\nminSessionTimeout=1000\n" + peers)
        self.members = [EnsembleMember(i + 1, workdir / f"zk{i + 1}", config, c)
                        for i, (c, _q, _e) in enumerate(ports)]

    @property
    def hosts(self) -> list[str]:
        return [f"127.0.0.1:{m.port}" for m in self.members]

    def conf(self, chroot: str = "", identity: str | None = None) -> dict[str, Any]:
        """A service's ``zookeeper:`` section listing every server."""
        tls = self.ca.identity(identity or self.SERVICES).tls_conf()
        return {"hosts": self.hosts, "chroot": chroot, "tls": tls}

    def start(self, timeout: float = 60) -> None:
        """Start every server (they wait for each other), then wait for a leader."""
        for member in self.members:
            member.start()
        wait_for(lambda: self.leader() is not None, timeout, interval=0.2,
                 what="the ensemble to elect a leader")

    def stop(self) -> None:
        for member in reversed(self.members):
            member.stop()

    def mode(self, member: EnsembleMember) -> str | None:
        """``leader``, ``follower`` or None (not serving), from ``srvr`` over TLS."""
        if not member.running():
            return None
        identity = self.ca.identity(self.ADMIN)
        context = ssl.create_default_context(cafile=str(identity.ca))
        context.check_hostname = False
        context.load_cert_chain(str(identity.cert), str(identity.key))
        try:
            with socket.create_connection(("127.0.0.1", member.port), timeout=2) as raw, \
                    context.wrap_socket(raw) as conn:
                conn.sendall(b"srvr")
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
        except OSError:
            return None
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def leader(self) -> EnsembleMember | None:
        for member in self.members:
            if self.mode(member) in ("leader", "standalone"):
                return member
        return None

    def create_chroot(self, chroot: str) -> None:
        client = make_client(self.conf(identity=self.ADMIN))
        client.start(timeout=20)
        try:
            client.ensure_path(chroot, acl=OPEN_ACL_UNSAFE)
        finally:
            client.stop()
            client.close()
