"""The one place kazoo clients are made: :func:`make_client` from a ``zookeeper:`` section.

Every service (scheduler, launcher, tools) connects through :func:`make_client`, so TLS and
ACLs are the same everywhere:

- ``tls: {cert, key, ca}`` makes the connection TLS with a client certificate (ZooKeeper's
  ``secureClientPort`` with client auth, as real Zuul and Nodepool require); the server's
  certificate is verified against ``ca`` including its host name.
- With TLS, every znode the client creates gets an ACL that allows only x509 identities (the
  certificate subjects ZooKeeper's ``X509AuthenticationProvider`` sees): the client's own
  (``CN=...`` of ``cert``) plus those listed in ``tls.acl`` (for example a real Nodepool
  launcher's or another of our services' when they use different certificates).
  Without TLS (a development ZooKeeper), znodes are created open as before.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cryptography import x509
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
from kazoo.security import ACL, Id, Permissions

from zuul.lib.zk_handler import PollingHandler

log = logging.getLogger(__name__)

X509_SCHEME = "x509"


def cert_identity(cert_path: str | Path) -> str:
    """The x509 identity of a PEM certificate: its subject in RFC 4514/2253 form."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return cert.subject.rfc4514_string()


def identities(zk_conf: dict[str, Any]) -> list[str]:
    """The x509 identities allowed on our znodes (own certificate first); [] without TLS."""
    tls = zk_conf.get("tls")
    if not tls:
        return []
    allowed = [cert_identity(tls["cert"])]
    for identity in tls.get("acl") or ():
        if identity not in allowed:
            allowed.append(identity)
    return allowed


def acl_for(allowed: list[str]) -> list[ACL] | None:
    """All permissions for each identity in ``allowed``; ``None`` (kazoo's open ACL) if empty."""
    if not allowed:
        return None
    return [ACL(Permissions.ALL, Id(X509_SCHEME, identity)) for identity in allowed]


def hosts_string(zk_conf: dict[str, Any]) -> str:
    """kazoo's ``hosts`` argument: ``h1:p1,h2:p2`` followed by the chroot."""
    return ",".join(zk_conf["hosts"]) + (zk_conf.get("chroot") or "")


def make_client(zk_conf: dict[str, Any]) -> KazooClient:
    """A (not yet started) kazoo client for a validated ``zookeeper:`` config section.

    It keeps reconnecting after a lost connection; ``start(timeout=...)`` bounds the first
    connection attempt. Its handler is :class:`~zuul.lib.zk_handler.PollingHandler` (kazoo's
    threading handler with a cheaper ``select``).
    """
    tls = zk_conf.get("tls")
    kwargs: dict[str, Any] = {}
    if tls:
        kwargs.update(use_ssl=True, verify_certs=True, certfile=str(tls["cert"]),
                      keyfile=str(tls["key"]), ca=str(tls["ca"]))
    return KazooClient(
        hosts=hosts_string(zk_conf),
        timeout=float(zk_conf.get("session_timeout", 10.0)),
        connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=2.0),
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
        default_acl=acl_for(identities(zk_conf)),
        handler=PollingHandler(),
        **kwargs,
    )
