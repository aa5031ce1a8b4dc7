"""ZooKeeper is TLS only, with client certificates, and our znodes carry x509 ACLs."""
from __future__ import annotations

from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.handlers.threading import KazooTimeoutError

from nodepool.launcher.config import load as load_launcher_config
from tests.harness.pki import TestCA
from tests.harness.servers import ZooKeeperServer, write_yaml
from tests.harness.stack import Stack
from zuul.lib import zk
from zuul.lib.config import ConfigError


def test_plaintext_and_certless_clients_are_refused(zookeeper: ZooKeeperServer,
                                                    pki: TestCA) -> None:
    plain = KazooClient(hosts=zookeeper.hosts, timeout=2)
    with pytest.raises(KazooTimeoutError):
        plain.start(timeout=3)
    plain.stop()
    plain.close()
    certless = KazooClient(hosts=zookeeper.hosts, timeout=2, use_ssl=True, ca=str(pki.ca_path))
    with pytest.raises(KazooTimeoutError):
        certless.start(timeout=3)
    certless.stop()
    certless.close()


def test_server_certificate_is_verified(zookeeper: ZooKeeperServer,
                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    """A client trusting another CA does not talk to our server."""
    other_ca = TestCA(tmp_path_factory.mktemp("other-ca"))
    ours = zookeeper.conf()["tls"]
    conf = {"hosts": [zookeeper.hosts], "tls": {**ours, "ca": str(other_ca.ca_path)}}
    client = zk.make_client(conf)
    with pytest.raises(KazooTimeoutError):
        client.start(timeout=3)
    client.stop()
    client.close()


def test_our_znodes_allow_only_listed_identities(zk_stack: Stack, pki: TestCA) -> None:
    assert zk_stack.zookeeper is not None
    server = zk_stack.zookeeper
    conf = server.conf(zk_stack.zk_chroot, acl=["CN=nodepool-ext"])
    assert zk.identities(conf) == ["CN=zuul-services", "CN=nodepool-ext"]
    ours = zk.make_client(conf)
    ours.start(timeout=10)
    friend = server.client(zk_stack.zk_chroot, identity="nodepool-ext")
    stranger = server.client(zk_stack.zk_chroot, identity="stranger")
    try:
        ours.create("/nodepool/nodes/0000000001", b"{}", makepath=True)
        acls, _ = ours.get_acls("/nodepool/nodes/0000000001")
        assert sorted(a.id.id for a in acls) == ["CN=nodepool-ext", "CN=zuul-services"]
        assert all(a.id.scheme == "x509" for a in acls)
        friend.set("/nodepool/nodes/0000000001", b'{"state": "ready"}')
        assert ours.get("/nodepool/nodes/0000000001")[0] == b'{"state": "ready"}'
        with pytest.raises(NoAuthError):
            stranger.get("/nodepool/nodes/0000000001")
        with pytest.raises(NoAuthError):
            stranger.create("/nodepool/nodes/0000000002", b"{}")
    finally:
        for client in (ours, friend, stranger):
            client.stop()
            client.close()


def test_tls_files_are_checked_at_load(tmp_path: Path, pki: TestCA) -> None:
    tls = pki.identity("zuul-services").tls_conf()
    path = write_yaml(tmp_path / "nodepool.yaml", {"zookeeper": {
        "hosts": ["127.0.0.1:2281"], "tls": {**tls, "key": str(tmp_path / "missing.pem")}}})
    with pytest.raises(ConfigError) as failure:
        load_launcher_config(path)
    message = str(failure.value)
    assert "\n" not in message
    assert str(path) in message and "zookeeper.tls.key" in message
