"""The deployment and scheduler settings behind OpenID Connect sign-in (no browser)."""
from __future__ import annotations

import base64
import hashlib

import pytest

from zuul.apache import (
    DASHBOARD_CSP,
    DASHBOARD_INDEX,
    csp_connect,
    inline_script_hashes,
    validate_deployment,
)
from zuul.lib.auth import Authenticator
from zuul.lib.config import ConfigError


def test_issuer_origin_joins_connect_src_only() -> None:
    csp = csp_connect(DASHBOARD_CSP, ["https://id.example.org/realms/zuul",
                                      "https://id.example.org/other"])
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["connect-src"] == ["'self'", "https://id.example.org"]
    assert directives["script-src"] == ["'self'", *inline_script_hashes(
        DASHBOARD_INDEX.read_text())] and directives["form-action"] == ["'self'"]
    assert csp_connect("default-src 'none'", ["http://127.0.0.1:8080/x"]) == (
        "default-src 'none'; connect-src 'self' http://127.0.0.1:8080")
    deployment = validate_deployment({"zuul": {"scheduler": "127.0.0.1:9000"}, "security": {
        "oidc_issuers": ["https://id.example.org/realms/zuul"]}})
    assert "connect-src 'self' https://id.example.org;" in deployment["security"]["dashboard_csp"]
    with pytest.raises(ConfigError, match="oidc_issuers"):
        validate_deployment({"zuul": {"scheduler": "127.0.0.1:9000"},
                             "security": {"oidc_issuers": ["javascript:alert(1)"]}})


def test_csp_allows_exactly_the_inline_prefetch_of_index_html() -> None:
    """The dashboard's CSP names index.html's one inline script (the status prefetch) by its
    sha256, as Chromium computes it (the script's text between the tags); a changed script
    or an injected one gets another hash (tests/frontdoor/test_dashboard_csp.py shows
    Chromium refusing one)."""
    html = DASHBOARD_INDEX.read_text()
    hashes = inline_script_hashes(html)
    assert len(hashes) == 1 and hashes[0].startswith("'sha256-")
    script_src = next(d for d in DASHBOARD_CSP.split("; ") if d.startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'", hashes[0]]
    assert "'unsafe-inline'" not in DASHBOARD_CSP and "'unsafe-eval'" not in DASHBOARD_CSP
    assert inline_script_hashes(html.replace("zuulPrefetch", "zuulPrefetch2")) != hashes
    assert inline_script_hashes('<script src="x.js"></script><script>a&amp;b</script>') == [
        "'sha256-" + base64.b64encode(hashlib.sha256(b"a&amp;b").digest()).decode() + "'"]


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
