"""The deployment and scheduler settings behind OpenID Connect sign-in (no browser)."""
from __future__ import annotations

import pytest

from zuul.apache import DASHBOARD_CSP, csp_connect, validate_deployment
from zuul.lib.auth import Authenticator
from zuul.lib.config import ConfigError


def test_issuer_origin_joins_connect_src_only() -> None:
    csp = csp_connect(DASHBOARD_CSP, ["https://id.example.org/realms/zuul",
                                      "https://id.example.org/other"])
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["connect-src"] == ["'self'", "https://id.example.org"]
    assert directives["script-src"] == ["'self'"] and directives["form-action"] == ["'self'"]
    assert csp_connect("default-src 'none'", ["http://127.0.0.1:8080/x"]) == (
        "default-src 'none'; connect-src 'self' http://127.0.0.1:8080")
    deployment = validate_deployment({"zuul": {"scheduler": "127.0.0.1:9000"}, "security": {
        "oidc_issuers": ["https://id.example.org/realms/zuul"]}})
    assert "connect-src 'self' https://id.example.org;" in deployment["security"]["dashboard_csp"]
    with pytest.raises(ConfigError, match="oidc_issuers"):
        validate_deployment({"zuul": {"scheduler": "127.0.0.1:9000"},
                             "security": {"oidc_issuers": ["javascript:alert(1)"]}})


def test_openid_connect_realm_in_api_info(tmp_path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("unused")
    conf = {"realm": "zuul", "algorithm": "RS256", "public_key_file": str(key),
            "issuer": "https://id.example.org/realms/zuul", "audience": "zuul-web",
            "admin_claim": "zuul.admin", "leeway": 0, "driver": "OpenIDConnect",
            "scope": "openid profile"}
    realm = Authenticator(conf).info()["realms"]["zuul"]
    assert realm == {"authority": "https://id.example.org/realms/zuul", "client_id": "zuul-web",
                     "type": "JWT", "algorithm": "RS256", "driver": "OpenIDConnect",
                     "scope": "openid profile", "load_user_info": False}
    plain = Authenticator({**conf, "driver": "JWT"}).info()["realms"]["zuul"]
    assert plain["driver"] == "RS256" and "scope" not in plain
