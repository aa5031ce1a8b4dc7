"""Authenticating as a GitHub App: installation tokens from the App's JWT, renewed before
they expire, while a build runs."""
from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.gating.conftest import completed_run, event, start, tenant
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events
from tests.scheduler.github_api import GitHubAPI

APP_ID = 31337


def test_installation_token_refreshed_mid_run(stack: Stack, github: GitHubAPI) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stack.workdir / "app.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
    github.app_id = APP_ID
    github.app_public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    # GitHub's tokens live an hour; these 62 s, so the client (renewing a minute before
    # expiry) needs a new one about 2 s after the first.
    github.token_ttl = 62
    geard = stack.gearman()
    start(stack, geard, github, tenant(stack.workdir, github), app_id=APP_ID,
          app_key=str(pem))
    events = Events(geard)
    try:
        a = github.add_pull("org/a", 1, {"a.txt": "a\n"})
        hold = stack.workdir / "config-repo" / "hold-1"
        hold.touch()
        assert events.send("pull_request", event("opened", a, "org/a")) == "accepted"
        wait_for(lambda: [r for r in github.check_runs.values()
                          if r["status"] == "in_progress"], 60, what="check run started")
        [first] = list(github.tokens)
        wait_for(lambda: time.time() > github.tokens[first] - 60 + 1, 10,
                 what="the first token's renewal time")
        hold.unlink()
        run = completed_run(github, a["head"]["sha"])
        assert run["conclusion"] == "success"
        assert len(github.tokens) >= 2, github.dump()
        repo_calls = [c for c in github.calls if c["path"].startswith("/repos/org/a/")
                      and c["operation"] != "apps/get-repo-installation"]
        assert all(c["auth"].startswith("token ghs_") for c in repo_calls)
        assert repo_calls[0]["auth"] == f"token {first}"
        last = repo_calls[-1]
        assert last["auth"] != f"token {first}"
        # Renewed before expiry: the first token was still valid when it was replaced.
        assert last["time"] < github.tokens[first]
        lookups = [c for c in github.calls if c["operation"] == "apps/get-repo-installation"]
        assert lookups and all(c["auth"].startswith("Bearer ") for c in lookups)
    finally:
        events.close()
