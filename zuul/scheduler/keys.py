"""Per-project keys: an RSA keypair for secrets and one for SSH, stored encrypted.

Like Zuul, each project has a 4096-bit RSA keypair whose public half (``key/{project}.pub``)
encrypts secrets (PKCS#1 OAEP, SHA-1, as ``zuul-client encrypt`` does), and an SSH keypair
(``project-ssh-key/{project}.pub``). Private keys are written PEM-encrypted with the keystore
password under ``<state_dir>/keys/``, created on first use. Calls are blocking (key
generation takes about a second): the API runs them in a thread.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_BITS = 4096
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()),  # noqa: S303 - Zuul's scheme
                    algorithm=hashes.SHA1(), label=None)  # noqa: S303


class KeyStore:
    """Creates, stores and loads the keypairs of projects."""

    def __init__(self, root: Path, password: str) -> None:
        self.root = root
        self._password = password.encode()
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], rsa.RSAPrivateKey] = {}

    def _path(self, kind: str, connection: str, project: str) -> Path:
        safe = project.replace("/", "%2F")
        return self.root / kind / connection / f"{safe}.pem"

    def _private(self, kind: str, connection: str, project: str) -> rsa.RSAPrivateKey:
        key_id = (kind, f"{connection}/{project}")
        with self._lock:
            cached = self._cache.get(key_id)
            if cached is not None:
                return cached
            path = self._path(kind, connection, project)
            if path.exists():
                loaded = serialization.load_pem_private_key(path.read_bytes(), self._password)
                assert isinstance(loaded, rsa.RSAPrivateKey)
                key = loaded
            else:
                key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
                pem = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(self._password))
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
                os.replace(tmp, path)
            self._cache[key_id] = key
            return key

    def secrets_public_pem(self, connection: str, project: str) -> str:
        """The PEM public key that encrypts this project's secrets."""
        key = self._private("secrets", connection, project)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def ssh_public(self, connection: str, project: str) -> str:
        """The project's SSH public key (``ssh-rsa ...``)."""
        key = self._private("ssh", connection, project)
        return key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()

    def decrypt(self, connection: str, project: str, chunks: list[bytes]) -> str:
        """Decrypt the PKCS#1 OAEP chunks of one secret field."""
        key = self._private("secrets", connection, project)
        return b"".join(key.decrypt(chunk, OAEP) for chunk in chunks).decode()
