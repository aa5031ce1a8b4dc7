"""Generate the Apache vhost (and a self-contained httpd config) from a deployment YAML.

The rules live in one jinja2 template, ``deploy/apache/vhost.conf.j2``; the Ansible playbook,
the tests and admins all render it through :func:`render_vhost`, so there is one copy of them.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import voluptuous as vol

from zuul.lib.config import (
    ConfigError,
    NonEmptyStr,
    Port,
    host_port,
    load_config,
    split_host_port,
    validate,
)

TEMPLATE_DIR_NAME = Path("deploy") / "apache"
DEFAULT_CACHE_ROOT = "/var/cache/apache2/mod_cache_disk"
# The dashboard this package ships; its index.html has one inline script (the status prefetch).
DASHBOARD_INDEX = Path(__file__).resolve().parent / "web" / "static" / "index.html"


class _InlineScripts(HTMLParser):
    """Collects the text of every inline ``<script>`` (one without ``src``) of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._current = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


def inline_script_hashes(html: str) -> list[str]:
    """The CSP source expressions (``'sha256-...'``) allowing exactly the inline scripts of
    ``html``, in page order."""
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    return ["'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            + "'" for script in parser.scripts]


def _dashboard_script_src() -> str:
    """script-src of the dashboard: its own files plus its inline scripts by hash."""
    try:
        hashes = inline_script_hashes(DASHBOARD_INDEX.read_text(encoding="utf-8"))
    except OSError:  # an installation without the dashboard's files
        hashes = []
    return " ".join(["script-src", "'self'", *hashes])


# The dashboard's Content-Security-Policy: its own scripts (and index.html's inline status
# prefetch, by hash), styles and API only (the websocket to the same host is 'self' too); no
# other inline script, no framing.
DASHBOARD_CSP = (f"default-src 'self'; {_dashboard_script_src()}; style-src 'self'; "
                 "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
                 "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
# Build logs are data: listed and shown, never run.
LOGS_CSP = "default-src 'none'; img-src 'self'; style-src 'self'; frame-ancestors 'none'"
# JSON and text answers of the APIs.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Open files Apache needs besides two per worker thread (client + backend socket).
NOFILE_BASE = 1024
# The user Apache's children run as when started by root (Debian's www-data).
APACHE_USER = "www-data"

Members = vol.All(lambda v: [v] if isinstance(v, str) else v, [host_port], vol.Length(min=1))


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise vol.Invalid("expected a URL path starting with /")
    return value.rstrip("/")


SCHEMA = vol.Schema(
    {
        vol.Optional("server_name", default="localhost"): NonEmptyStr,
        vol.Optional("server_admin", default="webmaster@localhost"): NonEmptyStr,
        vol.Optional("listen_address", default="*"): NonEmptyStr,
        vol.Optional("port", default=80): Port,
        vol.Optional("tls", default={}): {
            vol.Optional("enabled", default=False): bool,
            vol.Optional("certificate"): NonEmptyStr,
            vol.Optional("key"): NonEmptyStr,
            vol.Optional("chain"): NonEmptyStr,
            vol.Optional("http_port", default=80): Port,
        },
        vol.Required("zuul"): {
            vol.Optional("prefix", default="/zuul"): _prefix,
            # One scheduler, or all of them (active + standbys): the read API is balanced over
            # them; a standby forwards admin writes to the active scheduler itself.
            vol.Required("scheduler"): Members,
            vol.Optional("webhook", default=[]): vol.Any([], Members),
            vol.Optional("streamer", default=[]): vol.Any([], Members),
            vol.Optional("dashboard_root"): NonEmptyStr,
            # How the dashboard routes: "hash" (ours: <prefix>/t/... links redirect to
            # <prefix>/#/t/...) or "path" (Zuul's own dashboard: every unknown path is its
            # index.html, which must then be served at the site's root, prefix "/").
            vol.Optional("dashboard_routing", default="hash"): vol.In(["hash", "path"]),
            vol.Optional("log_root"): NonEmptyStr,
        },
        vol.Optional("nodepool"): {
            vol.Optional("prefix", default="/nodepool"): _prefix,
            vol.Required("launcher"): Members,
        },
        vol.Optional("timeouts", default={}): {
            vol.Optional("connect", default=5): vol.All(int, vol.Range(min=1)),
            vol.Optional("proxy", default=60): vol.All(int, vol.Range(min=1)),
            # Core ``Timeout`` (client side). A websocket tunnel's idle timeout is the larger
            # of this and the streamer members' ``timeout=`` (websocket_idle).
            vol.Optional("client", default=60): vol.All(int, vol.Range(min=1)),
            vol.Optional("websocket_idle", default=600): vol.All(int, vol.Range(min=1)),
            vol.Optional("member_retry", default=2): vol.All(int, vol.Range(min=0)),
            # mod_proxy_hcheck: seconds between /health/ready checks of each webhook worker.
            vol.Optional("health_interval", default=1): vol.All(int, vol.Range(min=1)),
        },
        vol.Optional("status_cache", default={}): {
            # Apache caches status.json (mod_cache_disk) for the scheduler's max-age; off:
            # every request goes to the scheduler's own snapshot cache.
            vol.Optional("enabled", default=True): bool,
            # mod_cache_disk's CacheRoot, writable by Apache's user (Debian's default dir).
            vol.Optional("root", default=DEFAULT_CACHE_ROOT): NonEmptyStr,
            # Largest status.json Apache caches (a 1,000-item status is ~0.8 MB).
            vol.Optional("max_bytes", default=8 * 1024 * 1024): vol.All(int, vol.Range(min=1024)),
        },
        vol.Optional("workers", default={}): {
            # Apache worker threads per child process (ThreadsPerChild = ThreadLimit).
            vol.Optional("threads_per_child", default=64): vol.All(int, vol.Range(1, 1024)),
            # Threads for everything but console streams (API, webhooks, static files), kept
            # idle whatever the number of open streams (MinSpareThreads).
            vol.Optional("request_workers", default=256): vol.All(int, vol.Range(min=16)),
            # Concurrent console-stream websockets this Apache carries: each open tunnel holds
            # one thread (~160 KiB of RSS, doc/frontdoor.rst).
            vol.Optional("console_streams", default=1000): vol.All(int, vol.Range(min=0)),
        },
        vol.Optional("security", default={}): {
            # Who may read /metrics and /health/* through Apache (``Require ip`` arguments:
            # addresses or CIDR ranges); empty = nobody.
            vol.Optional("monitoring_allow", default=["127.0.0.1", "::1"]): [NonEmptyStr],
            vol.Optional("referrer_policy", default="same-origin"): NonEmptyStr,
            vol.Optional("dashboard_csp", default=DASHBOARD_CSP): NonEmptyStr,
            # OpenID Connect issuers the dashboard signs in with: their origins are added to
            # the dashboard CSP's connect-src (discovery document and token endpoint).
            vol.Optional("oidc_issuers", default=[]): [vol.All(
                NonEmptyStr, vol.Match(r"^https?://[^/?#]+", msg="expected an http(s) URL"))],
            vol.Optional("logs_csp", default=LOGS_CSP): NonEmptyStr,
            vol.Optional("api_csp", default=API_CSP): NonEmptyStr,
        },
    }
)


def template_dir() -> Path:
    """Where the templates are: ``$ZUUL_APACHE_TEMPLATES``, the source tree, or installed."""
    candidates = [
        os.environ.get("ZUUL_APACHE_TEMPLATES"),
        Path(__file__).resolve().parent.parent / TEMPLATE_DIR_NAME,
        Path(sys.prefix) / "share" / "zuul-web-tier" / TEMPLATE_DIR_NAME,
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "vhost.conf.j2").is_file():
            return Path(candidate)
    raise FileNotFoundError("Apache templates (vhost.conf.j2) not found")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False)
    env.filters["hostport"] = _hostport_filter
    env.filters["regex"] = _regex
    return env


def _hostport_filter(value: str) -> str:
    host, port = split_host_port(value, 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def mpm_sizing(deployment: dict[str, Any]) -> dict[str, int]:
    """mpm_event settings for the deployment's ``workers`` (doc/frontdoor.rst)."""
    workers = deployment["workers"]
    per_child = workers["threads_per_child"]
    threads = workers["request_workers"] + workers["console_streams"]
    processes = -(-threads // per_child)
    return {
        "threads_per_child": per_child,
        "max_request_workers": processes * per_child,
        # Twice the processes: room for the old generation of a graceful restart, whose
        # processes stay until their tunnels close.
        "server_limit": 2 * processes,
        "start_servers": -(-workers["request_workers"] // per_child),
        "min_spare_threads": workers["request_workers"],
        "nofile": 2 * processes * per_child + NOFILE_BASE,
    }


def _regex(value: str) -> str:
    """``value`` as a literal inside a PCRE pattern."""
    return re.escape(value)


def _check_tls(conf: dict[str, Any], source: str) -> dict[str, Any]:
    tls = conf["tls"]
    if tls["enabled"] and not (tls.get("certificate") and tls.get("key")):
        raise ConfigError(f"{source}: tls: certificate and key are required when enabled")
    security = conf["security"]
    security["dashboard_csp"] = csp_connect(security["dashboard_csp"],
                                            security["oidc_issuers"])
    return conf


def csp_connect(csp: str, urls: list[str]) -> str:
    """``csp`` with the origins of ``urls`` added to its connect-src (made if missing)."""
    origins = list(dict.fromkeys(
        m.group(0) for m in (re.match(r"^https?://[^/?#]+", u) for u in urls) if m))
    if not origins:
        return csp
    directives = [d.strip() for d in csp.split(";") if d.strip()]
    for index, directive in enumerate(directives):
        if directive.split()[0] == "connect-src":
            present = directive.split()[1:]
            directives[index] = " ".join(
                ["connect-src", *present, *(o for o in origins if o not in present)])
            break
    else:
        directives.append(" ".join(["connect-src", "'self'", *origins]))
    return "; ".join(directives)


def validate_deployment(data: dict[str, Any], source: str = "deployment") -> dict[str, Any]:
    """Validate a deployment description given as a dict."""
    return _check_tls(validate(data, SCHEMA, source), source)


def load_deployment(path: str | Path) -> dict[str, Any]:
    """Load and validate a deployment description file."""
    return _check_tls(load_config(path, SCHEMA), str(path))


def render_vhost(deployment: dict[str, Any]) -> str:
    """Render the Apache 2.4 vhost for ``deployment`` (a validated deployment dict)."""
    return _environment().get_template("vhost.conf.j2").render(
        d=deployment, mpm=mpm_sizing(deployment))


def render_standalone(deployment: dict[str, Any], directory: Path, port: int | None = None,
                      listen_address: str | None = None) -> str:
    """Render a self-contained httpd.conf that includes ``directory/vhost.conf``."""
    return _environment().get_template("standalone.conf.j2").render(
        d=deployment, dir=str(directory),
        port=port if port is not None else deployment["port"],
        listen_address=listen_address or deployment["listen_address"],
        run_as_root=os.geteuid() == 0, apache_user=APACHE_USER,
        modules_dir="/usr/lib/apache2/modules")


def write_standalone(deployment: dict[str, Any], directory: Path, port: int | None = None,
                     listen_address: str | None = None) -> Path:
    """Write ``httpd.conf`` + ``vhost.conf`` (+ logs/, run/) into ``directory``."""
    directory = directory.resolve()
    if port is not None:
        deployment = {**deployment, "port": port}
    for sub in ("logs", "run"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    cache = deployment["status_cache"]
    if cache["enabled"] and cache["root"] == DEFAULT_CACHE_ROOT:
        # Self-contained: the status cache lives in the directory too, owned by Apache's user.
        root = directory / "cache"
        root.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, APACHE_USER, APACHE_USER)
        deployment = {**deployment, "status_cache": {**cache, "root": str(root)}}
    (directory / "vhost.conf").write_text(render_vhost(deployment), encoding="utf-8")
    conf = directory / "httpd.conf"
    conf.write_text(render_standalone(deployment, directory, port, listen_address),
                    encoding="utf-8")
    return conf
