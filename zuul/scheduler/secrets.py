"""Secrets in the tenant config: the ``!encrypted/pkcs1-oaep`` YAML tag and decryption.

``zuul-client encrypt`` prints a ``secret`` whose fields are ``!encrypted/pkcs1-oaep`` lists
of base64 chunks. The tenant config keeps them encrypted (:class:`Encrypted`); a build's
secrets are decrypted only when it starts and go to its playbook as variables, never into a
log line or an API response (``repr`` hides the value).
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

import yaml

TAG = "!encrypted/pkcs1-oaep"


class Encrypted:
    """One encrypted secret field: its ciphertext chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __repr__(self) -> str:
        return f"<Encrypted {len(self.chunks)} chunk(s)>"


class DecryptedValue(str):
    """A decrypted secret value: a str whose ``repr`` never shows it."""

    def __repr__(self) -> str:
        return "'<secret>'"


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Encrypted:
    if isinstance(node, yaml.ScalarNode):
        raw = [loader.construct_scalar(node)]
    elif isinstance(node, yaml.SequenceNode):
        raw = loader.construct_sequence(node)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"{TAG} expects a string or a list of strings", node.start_mark)
    chunks = []
    for value in raw:
        try:
            chunks.append(base64.b64decode(str(value).replace("\n", "").replace(" ", ""),
                                           validate=True))
        except (binascii.Error, ValueError):
            raise yaml.constructor.ConstructorError(
                None, None, f"{TAG}: not base64", node.start_mark) from None
    return Encrypted(chunks)


class SecretLoader(yaml.SafeLoader):
    """A SafeLoader that also reads ``!encrypted/pkcs1-oaep`` values."""


SecretLoader.add_constructor(TAG, _construct)


def decrypt_fields(data: dict[str, Any], decrypt: Any) -> dict[str, Any]:
    """``data`` with every :class:`Encrypted` value replaced by ``decrypt(chunks)``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Encrypted):
            out[key] = DecryptedValue(decrypt(value.chunks))
        elif isinstance(value, dict):
            out[key] = decrypt_fields(value, decrypt)
        else:
            out[key] = value
    return out
