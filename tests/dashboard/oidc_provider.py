"""A stand-in OpenID Connect provider for the dashboard's sign-in tests.

A real aiohttp server on a free loopback port, in its own thread, implementing the parts of
the published contracts a browser client uses with the authorization code flow and PKCE:

- OpenID Connect Discovery 1.0, section 4: ``/.well-known/openid-configuration`` (``issuer``
  equal to the URL it is served under, ``authorization_endpoint``, ``token_endpoint``,
  ``jwks_uri``, ``response_types_supported``, ``subject_types_supported``,
  ``id_token_signing_alg_values_supported``; RFC 8414's ``code_challenge_methods_supported``);
- the JWK Set (RFC 7517) with the RSA key that signs every token (RS256, ``kid``);
- OpenID Connect Core 1.0, 3.1.2: the authorization endpoint checks ``response_type=code``,
  the client, the exact registered ``redirect_uri`` (an unknown one is an error page, never a
  redirect) and the PKCE challenge (RFC 7636, ``S256`` only); a sign-in page whose button
  redirects back with ``code`` and ``state``;
- 3.2 (implicit flow, ``response_type=id_token token``, which Zuul 14's own dashboard asks
  for through oidc-client 1.11): the approved request redirects back with ``access_token``,
  ``id_token`` (with the required ``nonce`` and ``at_hash``, 3.2.2.10), ``token_type``,
  ``expires_in`` and ``state`` in the fragment;
- 3.1.3: the token endpoint (form-encoded POST, public client) exchanges a code once, within
  its lifetime, only with the same ``client_id`` and ``redirect_uri`` and a ``code_verifier``
  whose SHA-256 is the challenge; answers ``access_token``, ``id_token`` (iss, sub, aud, exp,
  iat, auth_time, nonce when sent), ``token_type: Bearer``, ``expires_in`` with
  ``Cache-Control: no-store``; errors are 400 ``{"error": "invalid_grant"|...}``.

Discovery, JWKS and the token endpoint allow cross-origin reads (CORS), as providers do for a
registered web client. Tokens carry ``zuul.admin`` (the tenants the user administers).
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness.app_thread import AppThread
from tests.harness.ports import free_port

CODE_LIFETIME = 60  # seconds an authorization code may be exchanged in
TOKEN_LIFETIME = 3600
CORS = {"Access-Control-Allow-Origin": "*"}
IMPLICIT = {"id_token", "token"}  # OIDC Core 3.2: response_type "id_token token", any order


def s256(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def at_hash(access_token: str) -> str:
    """OIDC Core 3.2.2.9: the left half of SHA-256 (RS256) of the token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


@dataclass
class Grant:
    """An issued authorization code and what it was issued for."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    issued: float
    used: bool = False


@dataclass
class OIDCProvider:
    """The provider: one public client (``client_id`` with ``redirect_uri``) and one user."""

    client_id: str
    redirect_uri: str
    admin_of: list[str]
    user: str = "alice"
    port: int = field(default_factory=free_port)
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kid = secrets.token_hex(8)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._server = AppThread(self.port)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/realms/zuul"

    def public_key_pem(self) -> str:
        """The signing key's public half (PEM), for a verifier configured with a key file."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    # -- the endpoints ---------------------------------------------------------------------

    async def _discovery(self, request: web.Request) -> web.Response:
        base = self.issuer
        return web.json_response({
            "issuer": base,
            "authorization_endpoint": f"{base}/protocol/openid-connect/auth",
            "token_endpoint": f"{base}/protocol/openid-connect/token",
            "jwks_uri": f"{base}/protocol/openid-connect/certs",
            "response_types_supported": ["code", "id_token token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "name",
                                 "preferred_username"]}, headers=CORS)

    async def _jwks(self, request: web.Request) -> web.Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return web.json_response({"keys": [jwk]}, headers=CORS)

    def _check_authorize(self, params: dict[str, str]) -> str | None:
        """Why this authorization request is refused (OIDC Core 3.1.2.2, 3.2.2.2), or None."""
        implicit = set(params.get("response_type", "").split()) == IMPLICIT
        if params.get("response_type") != "code" and not implicit:
            return "unsupported_response_type"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope"
        if implicit:  # the nonce is required in the implicit flow (3.2.2.1)
            return None if params.get("nonce") else "invalid_request"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "invalid_request"
        return None

    def _tokens(self, nonce: str | None) -> dict[str, str]:
        """A signed access token and ID token for the user (``at_hash`` binds the two)."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.user, "aud": self.client_id, "iat": now,
                  "exp": now + TOKEN_LIFETIME, "auth_time": now, "name": self.user.title(),
                  "preferred_username": self.user, "zuul": {"admin": self.admin_of}}
        headers = {"kid": self.kid}
        access = jwt.encode({**claims, "typ": "Bearer"}, self._key, "RS256", headers=headers)
        id_claims = {**claims, "at_hash": at_hash(access),
                     **({"nonce": nonce} if nonce else {})}
        return {"access_token": access,
                "id_token": jwt.encode(id_claims, self._key, "RS256", headers=headers)}

    async def _authorize(self, request: web.Request) -> web.Response:
        raw = request.query if request.method == "GET" else await request.post()
        params = {k: str(v) for k, v in raw.items()}
        if (params.get("client_id") != self.client_id
                or params.get("redirect_uri") != self.redirect_uri):
            # Never redirect to an unregistered URI (Core 3.1.2.6): an error page instead.
            return web.Response(status=400, text="unknown client or redirect_uri")
        error = self._check_authorize(params)
        if error:
            query = {"error": error, "state": params.get("state", "")}
            raise web.HTTPFound(f"{self.redirect_uri}?{urlencode(query)}")
        if request.method == "GET":  # the sign-in page: its button posts the same request
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items())
            return web.Response(content_type="text/html", text=(
                "<!doctype html><html lang=en><title>Stand-in provider</title>"
                f"<form method=post><p>Sign in to Zuul as {html.escape(self.user)}</p>"
                f"{fields}<button id=approve>Sign in</button></form></html>"))
        if params["response_type"] != "code":  # implicit: the tokens in the fragment
            fragment = {**self._tokens(params["nonce"]), "token_type": "Bearer",
                        "expires_in": str(TOKEN_LIFETIME), "state": params.get("state", "")}
            raise web.HTTPFound(f"{self.redirect_uri}#{urlencode(fragment)}")
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(self.client_id, self.redirect_uri,
                                  params["code_challenge"], params.get("nonce"), time.time())
        query = {"code": code, "state": params.get("state", "")}
        raise web.HTTPFound(f"{self.redirect_uri}?{urlencode(query)}")

    def _token_error(self, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description},
                                 status=400, headers={**CORS, "Cache-Control": "no-store"})

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        if form.get("grant_type") != "authorization_code":
            return self._token_error("unsupported_grant_type", "authorization_code only")
        grant = self.grants.get(form.get("code", ""))
        if grant is None or grant.used or time.time() - grant.issued > CODE_LIFETIME:
            return self._token_error("invalid_grant", "unknown, used or expired code")
        grant.used = True  # a code is good for one exchange (Core 3.1.3.2)
        if form.get("client_id") != grant.client_id:
            return self._token_error("invalid_client", "the code was issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._token_error("invalid_grant", "redirect_uri differs")
        if s256(form.get("code_verifier", "")) != grant.challenge:
            return self._token_error("invalid_grant", "PKCE verification failed")
        return web.json_response({
            **self._tokens(grant.nonce),
            "token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "scope": "openid profile"},
            headers={**CORS, "Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- lifecycle -------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        base = "/realms/zuul"
        app.router.add_get(base + "/.well-known/openid-configuration", self._discovery)
        app.router.add_get(base + "/protocol/openid-connect/certs", self._jwks)
        app.router.add_route("GET", base + "/protocol/openid-connect/auth", self._authorize)
        app.router.add_route("POST", base + "/protocol/openid-connect/auth", self._authorize)
        app.router.add_post(base + "/protocol/openid-connect/token", self._token)
        return app

    def start(self) -> OIDCProvider:
        self._server.start(self._app())
        return self

    def stop(self) -> None:
        self._server.stop()
