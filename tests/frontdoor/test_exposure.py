"""What the front door exposes, asked through a real Apache the way an outsider would."""
from __future__ import annotations

import os
from pathlib import Path

from tests.frontdoor.conftest import TENANT, HeldScheduler
from tests.harness.http import get, request
from tests.harness.stack import Stack
from zuul import apache as vhost

# An address no test client has (TEST-NET-1): an allow-list that excludes the loopback.
ELSEWHERE = "192.0.2.1"


def _no_backend_banner(headers: object) -> None:
    for name in ("Server", "X-Powered-By", "Via"):
        value = headers.get(name, "")  # type: ignore[attr-defined]
        assert "aiohttp" not in value and "Python" not in value and "2.4" not in value, value


def test_metrics_and_health_only_from_the_allow_list(zk_stack: Stack,
                                                      held_scheduler: HeldScheduler) -> None:
    launcher = zk_stack.launcher(labels=[{"name": "local"}], providers=[])
    zuul = {"scheduler": f"127.0.0.1:{held_scheduler.service.port}"}
    nodepool = {"launcher": f"127.0.0.1:{launcher.port}"}
    paths = ["/nodepool/metrics", "/nodepool/health/live", "/nodepool/health/ready",
             "/zuul/metrics", "/zuul/health/live", "/zuul/health/ready"]
    allowed = zk_stack.apache(zuul=zuul, nodepool=nodepool)  # default: loopback only
    refused = zk_stack.apache(zuul=zuul, nodepool=nodepool,
                              security={"monitoring_allow": [ELSEWHERE]})
    for path in paths:
        assert get(allowed.url + path).status == 200, path
        for variant in (path, path.replace("/metrics", "//metrics").replace("/health", "/./health"),
                        path + "/", path.replace("m", "%6d", 1) if "metrics" in path else path):
            assert get(refused.url + variant).status in (403, 404), variant
    # Nor through the API's route, where encoded slashes reach the backend undecoded.
    for sneaky in ("/zuul/api/%2e%2e/metrics", "/zuul/api/..%2fmetrics",
                   "/zuul/api/..%2F..%2Fmetrics", "/zuul/api/%2e%2e%2fhealth%2fready",
                   "/nodepool/..%2fmetrics", "/nodepool/api/..%2f..%2fmetrics"):
        answer = get(refused.url + sneaky)
        assert answer.status in (400, 403, 404), (sneaky, answer.status)
        assert "process_cpu" not in answer.text and '"live"' not in answer.text, sneaky
        assert '"ready"' not in answer.text.replace(" ", ""), sneaky
    # The APIs themselves stay public.
    assert get(refused.url + "/zuul/api/info").status == 200
    assert get(refused.url + "/nodepool/label-list").status == 200


def test_banners_reduced(stack: Stack, held_scheduler: HeldScheduler) -> None:
    server = stack.apache(zuul={"scheduler": f"127.0.0.1:{held_scheduler.service.port}"})
    info = get(server.url + "/zuul/api/info")
    assert info.status == 200 and info.headers["Server"] == "Apache"
    _no_backend_banner(info.headers)
    missing = get(server.url + "/zuul/api/no-such-route")  # the scheduler's JSON 404
    assert missing.status == 404 and missing.headers["Server"] == "Apache"
    _no_backend_banner(missing.headers)
    apache_404 = get(server.url + "/nowhere")  # Apache's own error page
    assert apache_404.status == 404 and apache_404.headers["Server"] == "Apache"
    assert "Apache/" not in apache_404.text and "Debian" not in apache_404.text
    assert request("TRACE", server.url + "/zuul/api/info").status == 405


def test_no_default_page_at_root(stack: Stack, held_scheduler: HeldScheduler) -> None:
    server = stack.apache(zuul={"scheduler": f"127.0.0.1:{held_scheduler.service.port}"})
    root = request("GET", server.url + "/", timeout=5)  # urllib follows the redirect
    assert root.status != 200 or "Apache2 Debian Default Page" not in root.text
    for path in ("/index.html", "/icons/", "/icons/README", "/server-status", "/manual/",
                 "/javascript/", "/cgi-bin/"):
        answer = get(server.url + path)
        assert answer.status == 404, (path, answer.status)
        assert "Debian" not in answer.text


def test_root_redirects_to_the_dashboard(stack: Stack, held_scheduler: HeldScheduler) -> None:
    dashboard = Path(vhost.__file__).parent / "web" / "static"
    server = stack.apache(zuul={"scheduler": f"127.0.0.1:{held_scheduler.service.port}",
                                "dashboard_root": str(dashboard)})
    root = get(server.url + "/")
    assert root.status == 200 and '<main id="main"' in root.text  # followed to /zuul/


def test_security_headers(stack: Stack, held_scheduler: HeldScheduler) -> None:
    dashboard = Path(vhost.__file__).parent / "web" / "static"
    server = stack.apache(zuul={"scheduler": f"127.0.0.1:{held_scheduler.service.port}",
                                "dashboard_root": str(dashboard)})
    page = get(server.url + "/zuul/")
    assert page.status == 200
    assert page.headers["Content-Security-Policy"] == vhost.DASHBOARD_CSP
    for answer in (page, get(server.url + "/zuul/api/info"), get(server.url + "/nowhere")):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert len(answer.headers.get_all("Content-Security-Policy")) == 1


def test_encoded_slashes_route_to_the_api(stack: Stack,
                                          held_scheduler: HeldScheduler) -> None:
    server = stack.apache(zuul={"scheduler": f"127.0.0.1:{held_scheduler.service.port}"})
    direct = get(f"{held_scheduler.service.url}/api/tenant/{TENANT}/project/org%2Fproject")
    proxied = get(f"{server.url}/zuul/api/tenant/{TENANT}/project/org%2Fproject")
    assert proxied.status == direct.status == 200, proxied.text
    assert proxied.headers["Content-Type"].startswith("application/json")
    assert proxied.json() == direct.json()
    assert proxied.json()["name"] == "org/project"
    unknown = get(f"{server.url}/zuul/api/tenant/{TENANT}/project/org%2Fnope")
    assert unknown.status == 404 and unknown.headers["Content-Type"].startswith(
        "application/json")


def test_log_directories_browsable_nothing_outside(stack: Stack, workdir: Path,
                                                   held_scheduler: HeldScheduler) -> None:
    logs = workdir / "logs"
    build = logs / "0123abcd"
    (build / "zuul-info").mkdir(parents=True)
    (build / "console.log").write_text("line 1\n")
    (build / "zuul-info" / "inventory.yaml").write_text("all: {}\n")
    os.symlink("/etc/passwd", build / "passwd.log")
    os.symlink("/etc", build / "etc")
    os.symlink("/etc", logs / "escape")
    for path in (logs, build, build / "zuul-info"):
        path.chmod(0o755)
    server = stack.apache(zuul={"scheduler": f"127.0.0.1:{held_scheduler.service.port}",
                                "log_root": str(logs)})
    listing = get(server.url + "/zuul/logs/0123abcd/")
    assert listing.status == 200 and listing.headers["Content-Type"].startswith("text/html")
    assert 'href="console.log"' in listing.text and 'href="zuul-info/"' in listing.text
    assert "default-src 'none'" in listing.headers["Content-Security-Policy"]
    assert get(server.url + "/zuul/logs/").status == 200
    assert get(server.url + "/zuul/logs/0123abcd/zuul-info/").status == 200
    log = get(server.url + "/zuul/logs/0123abcd/console.log")
    assert log.status == 200 and log.text == "line 1\n"
    for outside in ("/zuul/logs/0123abcd/passwd.log", "/zuul/logs/0123abcd/etc/passwd",
                    "/zuul/logs/0123abcd/etc/", "/zuul/logs/escape/passwd",
                    "/zuul/logs/0123abcd/../../../../etc/passwd",
                    "/zuul/logs/0123abcd/%2e%2e/%2e%2e/%2e%2e/etc/passwd"):
        answer = get(server.url + outside)
        assert answer.status in (400, 403, 404), (outside, answer.status)
        assert "root:" not in answer.text
