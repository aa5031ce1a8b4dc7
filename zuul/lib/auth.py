"""Bearer-token (JWT) authorization for admin routes, shared by Zuul and Nodepool.

Tokens are checked with PyJWT: signature (HS256 shared secret or RS256 public key), ``exp``,
``iss`` and ``aud``. Authorization uses an admin claim at a dotted path (Zuul's default is
``zuul.admin``): a list of the tenants (scopes) the bearer administers, where ``"*"`` means all.

Missing or invalid token -> 401 with ``WWW-Authenticate: Bearer``; a valid token without the
scope -> 403. Both as JSON error bodies.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from zuul.lib.config import ConfigError
from zuul.lib.web import JSONHTTPError


class Authenticator:
    """Validates bearer tokens against one configured realm."""

    def __init__(self, conf: dict[str, Any], source: str = "auth") -> None:
        self.realm: str = conf["realm"]
        self.algorithm: str = conf["algorithm"]
        self.issuer: str = conf["issuer"]
        self.audience: str = conf["audience"]
        self.leeway: int = conf.get("leeway", 0)
        self.claim_path: list[str] = conf["admin_claim"].split(".")
        self.driver: str = conf.get("driver", "JWT")
        self.client_id: str = conf.get("client_id") or self.audience
        self.scope: str = conf.get("scope", "openid profile")
        if self.algorithm == "HS256":
            if not conf.get("secret"):
                raise ConfigError(f"{source}: auth.secret: required for HS256")
            self.key: Any = conf["secret"]
        else:
            key_file = conf.get("public_key_file")
            if not key_file:
                raise ConfigError(f"{source}: auth.public_key_file: required for RS256")
            try:
                self.key = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"{source}: auth.public_key_file: cannot read {key_file}: {exc.strerror}"
                ) from None

    def info(self) -> dict[str, Any]:
        """The realm description published in ``/api/info`` (Zuul's shape: an OpenID Connect
        realm has ``driver: OpenIDConnect``, its issuer as ``authority``, ``client_id`` and
        ``scope``, which the dashboard signs in with)."""
        realm: dict[str, Any] = {"authority": self.issuer, "client_id": self.client_id,
                                 "type": "JWT", "algorithm": self.algorithm}
        if self.driver == "OpenIDConnect":
            realm.update(driver="OpenIDConnect", scope=self.scope, load_user_info=False)
        else:
            realm["driver"] = self.algorithm
        return {"default_realm": self.realm, "realms": {self.realm: realm}}

    def _unauthorized(self, error: str, description: str) -> JSONHTTPError:
        header = f'Bearer realm="{self.realm}"'
        if error != "unauthorized":
            header += f', error="{error}", error_description="{description}"'
        return JSONHTTPError(401, error, description, headers={"WWW-Authenticate": header})

    def decode(self, request: web.Request) -> dict[str, Any]:
        """Return the verified claims of the request's bearer token, or raise 401."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise self._unauthorized("unauthorized", "This action requires a bearer token.")
        if scheme.lower() != "bearer" or not token.strip():
            raise self._unauthorized("invalid_request",
                                     "The Authorization header must be 'Bearer <token>'.")
        try:
            return jwt.decode(
                token.strip(), self.key, algorithms=[self.algorithm], audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise self._unauthorized("invalid_token", "The token has expired.") from None
        except jwt.InvalidTokenError as exc:
            raise self._unauthorized("invalid_token", f"The token is invalid: {exc}.") from None

    def scopes(self, claims: dict[str, Any]) -> list[str]:
        """The scopes (tenants) listed under the admin claim of ``claims``."""
        value: Any = claims
        for part in self.claim_path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            return [value]
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def authorize(self, request: web.Request, scope: str) -> dict[str, Any]:
        """Verify the token and that it grants admin on ``scope``; 401/403 otherwise."""
        claims = self.decode(request)
        granted = self.scopes(claims)
        if scope not in granted and "*" not in granted:
            raise JSONHTTPError(403, "forbidden",
                                f"The token does not grant admin rights on '{scope}'.")
        return claims
