"""Zuul 14.3's own dashboard, unmodified, signs in through OpenID Connect and acts as an admin.

The scheduler's auth realm is ``driver: OpenIDConnect`` with the stand-in provider of the
dashboard tests, which Zuul's dashboard (oidc-client 1.11) drives through the implicit flow
(``response_type=token id_token``, OpenID Connect Core 3.2): discovery, the authorization
page, tokens in the redirect's fragment, ID token checked against the JWKS. Signed in, the
dashboard's own forms and menus create an autohold, dequeue a running change and enqueue a
branch (asking ``freeze-pipeline`` first, then ``enqueue`` without a ``newrev``, which the
scheduler resolves to the branch's head through GitHub's "Get a branch", served from a real git
repository by the GitHub stand-in). Each action is checked in our API afterwards, and every
admin request must carry the provider's token.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from tests.dashboard.oidc_provider import OIDCProvider
from tests.dashboard.realstack import DashboardStack
from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import items, status
from tests.scheduler.conftest import pr_body as pull_request
from tests.scheduler.github_api import GitHubAPI
from tests.zuuldash.stack import start

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CLIENT = "zuul-dashboard"
REASON = "held from Zuul's dashboard"


@pytest.fixture
def provider() -> Iterator[OIDCProvider]:
    server = OIDCProvider(client_id=CLIENT, redirect_uri="", admin_of=["example"]).start()
    yield server
    server.stop()


@pytest.fixture
def github(zk_stack: Stack) -> Iterator[GitHubAPI]:
    """The GitHub stand-in, with ``org/dash`` as a real git repository (for its branch)."""
    api = GitHubAPI(root=zk_stack.workdir / "github")
    api.repos.root.mkdir()
    api.repos.create("org/dash")
    api.start()
    yield api
    api.stop()
    assert not api.violations, f"calls GitHub would not take: {api.violations}"


@pytest.fixture
def real(zk_stack: Stack, github: GitHubAPI, provider: OIDCProvider) -> DashboardStack:
    key = zk_stack.workdir / "oidc-public.pem"
    key.write_text(provider.public_key_pem())
    auth = {"algorithm": "RS256", "public_key_file": str(key), "issuer": provider.issuer,
            "audience": CLIENT, "driver": "OpenIDConnect", "admin_claim": "zuul.admin"}
    real = start(zk_stack, github.url, auth)
    provider.redirect_uri = real.url + "auth_callback"  # Zuul's dashboard's callback route
    return real


def _items(real: DashboardStack) -> list[dict[str, Any]]:
    """The check pipeline's items (the only pipeline these PRs and the branch go to)."""
    return items(status(real.scheduler.url), "check")


def test_zuul_dashboard_signs_in_and_acts_as_admin(
        real: DashboardStack, provider: OIDCProvider, github: GitHubAPI, browser: Any) -> None:
    assert real.send_event("pull_request", pull_request("org/slow", 50, "b" * 40)) == "accepted"
    wait_for(lambda: any(i["refs"][0]["id"].startswith("50,") for i in _items(real)), 60,
               what="org/slow #50 in the check pipeline")
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    actions: list[tuple[str, str, int, str]] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: actions.append(
        (r.request.method, urlsplit(r.url).path, r.status,
         r.request.headers.get("authorization", "")))
        if urlsplit(r.url).path.startswith("/api") and r.request.method != "GET" else None)
    try:
        page.goto(real.url + "t/example/status")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{provider.issuer}/protocol/openid-connect/auth?*")
        query = urlsplit(page.url).query
        assert "response_type=token%20id_token" in query and "nonce=" in query, query
        page.click("#approve")
        page.get_by_text("alice").first.wait_for()

        # An autohold, from the autoholds page's form.
        page.goto(real.url + "t/example/autoholds")
        page.get_by_text("Create Request").click()
        page.fill("#ah-form-ref[name=project]", "org/dash")
        page.fill("#ah-form-job-name", "console-job")
        page.fill("#ah-form-reason", REASON)
        page.get_by_role("button", name="Create").click()
        holds = wait_for(lambda: [h for h in get(
            f"{real.scheduler.url}/api/tenant/example/autohold").json()
            if h["reason"] == REASON], 20, what="the autohold in our API")
        assert holds[0]["job"] == "console-job" and holds[0]["max_count"] == 1, holds
        page.get_by_text(REASON).first.wait_for()

        # Dequeue org/slow #50 from its item's menu on the pipeline page.
        page.goto(real.url + "t/example/status/pipeline/check")
        page.get_by_text("#50").first.wait_for()
        page.get_by_role("button", name="Actions").last.click()
        page.get_by_text("Dequeue").first.click()
        page.get_by_role("button", name="Confirm").click()
        wait_for(lambda: not _items(real), 30, what="org/slow #50 dequeued")

        # Enqueue org/dash's main branch from the Enqueue page (an admin-only nav entry).
        page.get_by_role("link", name="Enqueue").click()
        page.fill("#project-input", "org/dash")
        page.fill("#ref-input", "main")
        page.get_by_role("button", name="Fetch").click()
        page.get_by_role("button", name="Enqueue").click()
        items = wait_for(lambda: _items(real), 30, what="org/dash's branch enqueued")
        ref = items[0]["refs"][0]
        assert (ref["project"], ref["ref"]) == ("org/dash", "refs/heads/main"), ref
        assert ref["newrev"] == github.repos.tip("org/dash"), ref
    finally:
        context.close()
    assert not errors, errors
    calls = {(method, path, status) for method, path, status, _ in actions}
    assert calls == {
        ("POST", "/api/tenant/example/project/org/dash/autohold", 200),
        ("POST", "/api/tenant/example/project/org/slow/dequeue", 200),
        ("POST", "/api/tenant/example/project/org/dash/freeze-pipeline", 200),
        ("POST", "/api/tenant/example/project/org/dash/enqueue", 200)}, actions
    # Every admin request carried the provider's access token, valid under its key.
    for *_, authorization in actions:
        scheme, _, token = authorization.partition(" ")
        claims = jwt.decode(token, provider.public_key_pem(), ["RS256"], audience=CLIENT,
                            issuer=provider.issuer)
        assert scheme == "Bearer" and claims["zuul"]["admin"] == ["example"], claims
