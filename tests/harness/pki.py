"""A test certificate authority and the certificates the harness gives to servers and clients.

One :class:`TestCA` per test session (the ``pki`` fixture) writes PEM files into a directory:
``ca.pem`` and, for each identity, ``<name>.pem`` (certificate) and ``<name>-key.pem``
(unencrypted PKCS#8 key). ZooKeeper's Java side reads the same PEM files
(``ssl.keyStore.type=PEM``: key and certificate in one file, ``<name>-keystore.pem``).

Every certificate carries the loopback names (``localhost``, ``127.0.0.1``, ``::1``) so it can
serve either side of a TLS connection on this host; its subject is ``CN=<name>``, which is the
identity ZooKeeper's X509 authentication provider sees (``x509:CN=<name>`` in ACLs).
"""
from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=2)
LOOPBACK_NAMES: list[x509.GeneralName] = [
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("::1")),
]


@dataclass(frozen=True)
class Identity:
    """The files of one issued certificate."""

    name: str
    cert: Path
    key: Path
    ca: Path
    keystore: Path  # key + certificate in one PEM file, for Java (ZooKeeper)

    @property
    def subject(self) -> str:
        """The subject as ZooKeeper's X509 provider renders it (RFC 2253)."""
        return f"CN={self.name}"

    def tls_conf(self) -> dict[str, str]:
        """The ``tls:`` part of a service's ``zookeeper:`` config section."""
        return {"cert": str(self.cert), "key": str(self.key), "ca": str(self.ca)}


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class TestCA:
    """A self-signed CA in ``directory`` that issues loopback certificates on demand."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "zuul-test-ca") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()),
                           critical=False)
            .sign(self._key, hashes.SHA256()))
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._issued: dict[str, Identity] = {}

    def identity(self, name: str) -> Identity:
        """The certificate for ``CN=<name>``, issued on first use (server and client auth)."""
        if name not in self._issued:
            self._issued[name] = self._issue(name)
        return self._issued[name]

    def _issue(self, name: str) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(LOOPBACK_NAMES), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256()))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = _pem_key(key)
        identity = Identity(name=name, cert=self.directory / f"{name}.pem",
                            key=self.directory / f"{name}-key.pem", ca=self.ca_path,
                            keystore=self.directory / f"{name}-keystore.pem")
        identity.cert.write_bytes(cert_pem)
        identity.key.write_bytes(key_pem)
        identity.key.chmod(0o600)
        identity.keystore.write_bytes(key_pem + cert_pem)
        identity.keystore.chmod(0o600)
        return identity
