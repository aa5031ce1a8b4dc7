"""Admin tokens signed with RS256: the scheduler checks them with the configured public key."""
from __future__ import annotations

import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness.http import get, request
from tests.harness.stack import Stack
from tests.scheduler.conftest import start_scheduler, tenant_file
from tests.scheduler.github_api import GitHubAPI


def _keypair(directory: Path) -> tuple[bytes, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = directory / "zuul-admin.pub"
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _token(private: bytes, tenants: list[str], algorithm: str = "RS256") -> str:
    return jwt.encode({"iss": "idp.example", "aud": "zuul", "exp": int(time.time()) + 300,
                       "zuul": {"admin": tenants}}, private, algorithm=algorithm)


def test_rs256_tokens(stack: Stack, github_api: GitHubAPI) -> None:
    private, public = _keypair(stack.workdir)
    (stack.workdir / "other").mkdir()
    other_private, _ = _keypair(stack.workdir / "other")
    auth = {"algorithm": "RS256", "public_key_file": str(public), "issuer": "idp.example",
            "audience": "zuul", "realm": "example-sso"}
    scheduler = start_scheduler(stack, stack.gearman(), github_api,
                                tenant_file(stack.workdir), auth=auth)
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    # An admin action that changes nothing: an empty tenant state update.
    state = apache.url + "/zuul/api/tenant/example/state"

    def status_with(token: str) -> int:
        return request("POST", state, body={},
                       headers={"Authorization": f"Bearer {token}"}).status

    assert status_with(_token(private, ["example"])) == 200
    assert status_with(_token(private, ["*"])) == 200
    assert status_with(_token(private, ["elsewhere"])) == 403
    assert status_with(_token(other_private, ["example"])) == 401   # signed by another key
    # An HS256 token "signed" with the public key must not pass (algorithm confusion).
    assert status_with(jwt.encode({"iss": "idp.example", "aud": "zuul", "zuul": {"admin": ["*"]},
                                   "exp": int(time.time()) + 300},
                                  "not-the-key-but-long-enough-for-hs256", algorithm="HS256")
                       ) == 401
    info = get(apache.url + "/zuul/api/info").json()["info"]
    assert info["capabilities"]["auth"]["realms"]["example-sso"]["driver"] == "RS256"
