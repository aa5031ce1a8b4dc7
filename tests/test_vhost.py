"""The vhost generator: every generated config passes Apache's own syntax check."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness.servers import console_script
from zuul import apache

DEPLOYMENTS = {
    "minimal": {"zuul": {"scheduler": "127.0.0.1:9000"}},
    "full": {
        "server_name": "zuul.example.org",
        "zuul": {"scheduler": "127.0.0.1:9000",
                 "webhook": ["127.0.0.1:9001", "127.0.0.1:9011"],
                 "streamer": ["127.0.0.1:9002", "[::1]:9012"],
                 "dashboard_root": "/opt/zuul/web", "log_root": "/var/lib/zuul/logs"},
        "nodepool": {"launcher": ["127.0.0.1:8005", "127.0.0.1:8006"]},
    },
    "two_schedulers": {"zuul": {"scheduler": ["127.0.0.1:9000", "[::1]:9100"],
                                "webhook": "127.0.0.1:9001"},
                       "status_cache": {"enabled": False}},
    "root_prefix": {"zuul": {"prefix": "/", "scheduler": "127.0.0.1:9000",
                             "dashboard_root": "/opt/zuul/web"}},
    "nested_prefix": {"zuul": {"prefix": "/ci/zuul/", "scheduler": "127.0.0.1:9000",
                               "streamer": "127.0.0.1:9002"}},
    "no_cache_closed_monitoring": {
        "zuul": {"scheduler": "127.0.0.1:9000", "webhook": "127.0.0.1:9001"},
        "nodepool": {"prefix": "/np", "launcher": "127.0.0.1:8005"},
        "status_cache": {"enabled": False},
        "security": {"monitoring_allow": []},
        "workers": {"threads_per_child": 25, "request_workers": 100, "console_streams": 0}},
    "big": {"zuul": {"scheduler": "127.0.0.1:9000", "streamer": "127.0.0.1:9002"},
            "security": {"monitoring_allow": ["10.0.0.0/8", "192.0.2.7"]},
            "workers": {"threads_per_child": 100, "console_streams": 5000}},
}


def _syntax_check(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("apache2") or "/usr/sbin/apache2", "-t", "-f",
                           str(conf)], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_generated_standalone_config_passes_apache_t(tmp_path: Path, name: str) -> None:
    dep = tmp_path / "deployment.yaml"
    dep.write_text(yaml.safe_dump({**DEPLOYMENTS[name], "port": 18080}))
    out = subprocess.run([console_script("zuul-apache-vhost"), "-c", str(dep), "--standalone",
                          str(tmp_path / "httpd")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    (tmp_path / "httpd" / "htdocs").mkdir()
    result = _syntax_check(Path(out.stdout.strip()))
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stderr


def test_tls_config_passes_apache_t(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    deployment = apache.validate_deployment({
        "port": 18443, "tls": {"enabled": True, "certificate": str(cert), "key": str(key),
                               "http_port": 18081},
        "zuul": {"scheduler": "127.0.0.1:9000"}})
    conf = apache.write_standalone(deployment, tmp_path / "httpd")
    (tmp_path / "httpd" / "htdocs").mkdir()
    result = _syntax_check(conf)
    assert result.returncode == 0, result.stderr
    vhost = (tmp_path / "httpd" / "vhost.conf").read_text()
    assert "SSLEngine on" in vhost and "R=301" in vhost


def test_routes_in_order() -> None:
    """The websocket route precedes the broader API route, or it would never match."""
    text = apache.render_vhost(apache.validate_deployment(DEPLOYMENTS["full"]))
    ws = text.index("console-stream")
    api = text.index('ProxyPass "/zuul/api/"')
    assert ws < api
    assert "ws://127.0.0.1:9002" in text and "ws://[::1]:9012" in text
    # Two webhook workers and the scheduler.
    assert text.count("BalancerMember \"http://127.0.0.1:90") == 3
    assert 'Alias "/zuul/logs/" "/var/lib/zuul/logs/"' in text


def test_tls_without_certificate_is_rejected() -> None:
    with pytest.raises(apache.ConfigError, match="tls: certificate and key"):
        apache.validate_deployment({"tls": {"enabled": True},
                                    "zuul": {"scheduler": "127.0.0.1:1"}})


def test_mpm_sizing_from_the_deployment() -> None:
    """Threads for every console stream plus the request workers, in whole processes."""
    sizing = apache.mpm_sizing(apache.validate_deployment(DEPLOYMENTS["minimal"]))
    assert sizing["max_request_workers"] == 1280 and sizing["threads_per_child"] == 64
    assert sizing["server_limit"] == 40 and sizing["min_spare_threads"] == 256
    assert sizing["nofile"] >= 2 * 1280
    text = apache.render_vhost(apache.validate_deployment(DEPLOYMENTS["big"]))
    assert "MaxRequestWorkers 5300" in text and "ServerLimit 106" in text
    assert "Require ip 10.0.0.0/8 192.0.2.7" in text


def test_monitoring_closed_and_cache_off() -> None:
    text = apache.render_vhost(apache.validate_deployment(
        DEPLOYMENTS["no_cache_closed_monitoring"]))
    assert "Require all denied" in text and "CacheEnable" not in text
    assert '^(/zuul|/np)/(metrics|health)(/|$)' in text


def test_read_api_balanced_over_schedulers() -> None:
    """Every scheduler is a member of the balancer behind /api and /health."""
    text = apache.render_vhost(apache.validate_deployment(DEPLOYMENTS["two_schedulers"]))
    block = text[text.index('<Proxy "balancer://zuul-scheduler">'):]
    block = block[:block.index("</Proxy>")]
    assert 'BalancerMember "http://127.0.0.1:9000" retry=2' in block
    assert 'BalancerMember "http://[::1]:9100" retry=2' in block
    assert 'ProxyPass "/zuul/api/" "balancer://zuul-scheduler/api/" nocanon' in text
    assert 'ProxyPass "/zuul/health/" "balancer://zuul-scheduler/health/"' in text
    single = apache.render_vhost(apache.validate_deployment(DEPLOYMENTS["minimal"]))
    assert 'BalancerMember "http://127.0.0.1:9000" retry=0' in single
