"""Signing in to the dashboard through an OpenID Connect provider, in Chromium, through Apache.

The scheduler's auth realm is ``driver: OpenIDConnect`` with a stand-in provider
(``tests/dashboard/oidc_provider.py``: discovery, JWKS, authorization and token endpoints,
RS256 tokens signed with PyJWT); Apache's dashboard CSP lists the issuer in connect-src
(``security.oidc_issuers``). The browser runs under that CSP (no bypass): it clicks *Sign in*,
is sent to the provider with a PKCE challenge, signs in there, comes back with a code, trades
it (with the verifier) for tokens, and as an admin creates an autohold through Apache.
"""
from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.dashboard.oidc_provider import OIDCProvider, s256
from tests.dashboard.realstack import DashboardStack, start
from tests.harness.http import get, request
from tests.harness.stack import Stack
from tests.scheduler.github_api import GitHubAPI

CLIENT = "zuul-dashboard"


@pytest.fixture
def provider() -> Iterator[OIDCProvider]:
    server = OIDCProvider(client_id=CLIENT, redirect_uri="", admin_of=["example"]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def real(stack: Stack, provider: OIDCProvider) -> Iterator[DashboardStack]:
    key = stack.workdir / "oidc-public.pem"
    key.write_text(provider.public_key_pem())
    github = GitHubAPI().start()
    try:
        auth = {"algorithm": "RS256", "public_key_file": str(key), "issuer": provider.issuer,
                "audience": CLIENT, "driver": "OpenIDConnect", "admin_claim": "zuul.admin"}
        real = start(stack, github.url, nodepool=False, streamer=False, auth=auth,
                     security={"oidc_issuers": [provider.issuer]})
        provider.redirect_uri = real.url  # the dashboard's own URL, registered for the client
        yield real
    finally:
        github.stop()


def test_sign_in_with_openid_connect_then_create_an_autohold(
        real: DashboardStack, provider: OIDCProvider, browser: Any, shots: Path) -> None:
    info = get(real.url + "api/info").json()["info"]["capabilities"]["auth"]
    realm = info["realms"][info["default_realm"]]
    assert realm["driver"] == "OpenIDConnect" and realm["authority"] == provider.issuer
    assert realm["client_id"] == CLIENT and "openid" in realm["scope"]
    csp = get(real.url).headers["Content-Security-Policy"]
    connect = next(d for d in csp.split(";") if d.split()[0] == "connect-src").split()
    assert f"http://127.0.0.1:{provider.port}" in connect and "'unsafe-eval'" not in csp

    context = browser.new_context(viewport={"width": 1280, "height": 900})  # CSP enforced
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    try:
        page.goto(real.url + "#/t/example/autoholds")
        page.wait_for_selector("#autoholds, #autoholds-none, [data-unavailable]")
        assert not page.locator("#autohold").is_visible()  # not signed in: no admin form

        page.click("#signin")
        page.click("#oidc-signin")
        page.wait_for_url(f"{provider.issuer}/protocol/openid-connect/auth?*")
        asked = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
        assert asked["response_type"] == ["code"] and asked["client_id"] == [CLIENT]
        assert asked["code_challenge_method"] == ["S256"] and len(asked["state"][0]) >= 16
        assert asked["redirect_uri"] == [real.url]
        page.click("#approve")

        page.wait_for_selector("#notice:has-text('Signed in.')")
        assert page.url == real.url + "#/t/example/autoholds"  # code and state removed
        assert page.inner_text("#signin") == "Sign out Alice"
        exchange = provider.token_requests[-1]
        assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
        # The code was good for one exchange only (OIDC Core 3.1.3.2).
        replay = request("POST", provider.issuer + "/protocol/openid-connect/token",
                         urllib.parse.urlencode(exchange).encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})
        assert replay.status == 400 and replay.json()["error"] == "invalid_grant"
        # The stored token verifies against the provider's published keys (Discovery: jwks_uri).
        stored = page.evaluate("sessionStorage.getItem('zuul.token')")
        discovery = get(provider.issuer + "/.well-known/openid-configuration").json()
        assert discovery["issuer"] == provider.issuer
        key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(stored)
        claims = jwt.decode(stored, key.key, algorithms=["RS256"], audience=CLIENT,
                            issuer=provider.issuer)
        assert claims["zuul"]["admin"] == ["example"]

        # As the tenant's admin: the autohold form, confirmed, answered, listed.
        page.wait_for_selector("#autohold", state="visible")
        page.fill("#autohold-project", "org/dash")
        page.fill("#autohold-job", "console-job")
        page.fill("#autohold-reason", "held after an OpenID Connect sign-in")
        page.click("#autohold button[type=submit]")
        page.click("#confirm button[value=yes]")
        page.wait_for_selector("#notice:has-text('Done: Hold the nodes')")
        row = page.locator("#autoholds tbody tr[data-id]")
        row.wait_for()
        assert "held after an OpenID Connect sign-in" in row.inner_text()
        page.screenshot(path=str(shots / "oidc-autohold.png"), full_page=True)
        held = get(real.url + "api/tenant/example/autohold").json()
        assert [h["reason"] for h in held] == ["held after an OpenID Connect sign-in"]
    finally:
        context.close()
    assert not problems, json.dumps(problems, indent=1)


def _no_redirect(method: str, url: str, form: dict[str, str] | None = None) -> Any:
    """One request without following redirects: (status, Location, body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=10)
    try:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body,
                     {"Content-Type": "application/x-www-form-urlencoded"} if body else {})
        response = conn.getresponse()
        return response.status, response.getheader("Location") or "", response.read()
    finally:
        conn.close()


def test_provider_refuses_what_the_contract_refuses(provider: OIDCProvider) -> None:
    """The stand-in is strict where OIDC Core and RFC 7636 are: an unregistered redirect_uri
    gets an error page (never a redirect), no S256 challenge an error redirect, a wrong
    verifier ``invalid_grant``, the right one tokens."""
    provider.redirect_uri = "http://127.0.0.1:9/zuul/"
    auth = provider.issuer + "/protocol/openid-connect/auth"
    token = provider.issuer + "/protocol/openid-connect/token"
    verifier = "v" * 50
    form = {"response_type": "code", "client_id": CLIENT, "scope": "openid",
            "redirect_uri": provider.redirect_uri, "state": "s1",
            "code_challenge": s256(verifier), "code_challenge_method": "S256"}
    status, location, _ = _no_redirect("GET", auth + "?" + urllib.parse.urlencode(
        {**form, "redirect_uri": "http://evil.example/"}))
    assert status == 400 and not location
    status, location, _ = _no_redirect("POST", auth, {**form, "code_challenge_method": "plain"})
    assert status == 302 and "error=invalid_request" in location and "state=s1" in location
    status, location, _ = _no_redirect("POST", auth, form)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT,
                "redirect_uri": provider.redirect_uri, "code_verifier": "w" * 50}
    status, _, body = _no_redirect("POST", token, exchange)
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    status, _, _ = _no_redirect("POST", auth, form)
    status, location, _ = _no_redirect("POST", auth, form)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    status, _, body = _no_redirect("POST", token, {**exchange, "code": code,
                                                   "code_verifier": verifier})
    answer = json.loads(body)
    assert status == 200 and answer["token_type"] == "Bearer"
    claims = jwt.decode(answer["id_token"], options={"verify_signature": False})
    assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT
