"""A sandboxed deployment for the end-to-end test: the playbook run into a prefix, then torn down.

Everything the playbook writes goes under ``root`` (``deploy_root``); every port is a free
loopback port chosen here, so it never meets the suite's own Apache, ZooKeeper or geard.
All services run under one supervisord, so teardown stops them all through its PID.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness.http import Response
from tests.harness.ports import free_port, port_open
from tests.harness.process import wait_for

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "site.yaml"
INVENTORY = REPO / "playbooks" / "inventory" / "localhost.ini"
PORT_VARS = ("apache_port", "tls_port", "zookeeper_port", "gearman_port",
             "zuul_scheduler_port", "zuul_webhook_port", "zuul_streamer_port",
             "nodepool_launcher_port")
# What the playbook packs into the venv; copied once, so edits in a live checkout during the
# test do not count as changes of the second run.
SOURCE_PATHS = ("setup.py", "README.rst", "zuul", "nodepool", "deploy/apache")
RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                   r"failed=(\d+)", re.MULTILINE)


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    returncode: int
    output: str
    summary: str

    @property
    def changed(self) -> int:
        """``changed=`` of the PLAY RECAP (-1 when there is no recap)."""
        match = RECAP.search(self.output)
        return int(match.group(2)) if match else -1

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


@dataclass
class Sandbox:
    """A deploy_root with its own ports; ``run()`` plays site.yaml into it."""

    root: Path
    output_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)
    runs: int = 0

    @classmethod
    def create(cls, output_dir: Path) -> Sandbox:
        root = Path(tempfile.mkdtemp(prefix="zuul-deploy-"))
        root.chmod(0o755)
        source = root / "source"
        for name in SOURCE_PATHS:
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, source / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                source.mkdir(exist_ok=True)
                shutil.copy2(REPO / name, source / name)
        extra: dict[str, Any] = {"deploy_root": str(root), "zuul_source_dir": str(source),
                                 "apache_listen_address": "127.0.0.1",
                                 # HTTPS on tls_port (self-signed for localhost), HTTP
                                 # redirecting to it on apache_port.
                                 "tls_enabled": True,
                                 # A ready node to hold and delete through Apache.
                                 "nodepool_labels": [{"name": "local", "min-ready": 1}]}
        used: set[int] = set()
        for name in PORT_VARS:
            port = free_port()
            while port in used:
                port = free_port()
            used.add(port)
            extra[name] = port
        (root / "vars.yaml").write_text(yaml.safe_dump(extra), encoding="utf-8")
        return cls(root=root, output_dir=output_dir, extra=extra)

    @property
    def apache_url(self) -> str:
        """The plain HTTP port (it redirects to :attr:`https_url`)."""
        return f"http://127.0.0.1:{self.extra['apache_port']}"

    @property
    def https_url(self) -> str:
        """The front door: HTTPS with the certificate made for ``localhost``."""
        return f"https://localhost:{self.extra['tls_port']}"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting only the deployment's Apache certificate."""
        return ssl.create_default_context(
            cafile=str(self.path("/etc/zuul/tls/server.crt")))

    def request(self, method: str, url: str, body: bytes | dict | list | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> Response:
        """One request (HTTP or HTTPS, verified against :meth:`ssl_context`), redirects not
        followed; JSON-encodes dict/list bodies."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.ssl_context()), _NoRedirect())
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with opener.open(req, timeout=timeout) as resp:
                return Response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return Response(err.code, err.headers, err.read())

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        """GET ``path`` from the HTTPS front door."""
        return self.request("GET", self.https_url + path, headers=headers)

    def path(self, absolute: str) -> Path:
        """Where a system path (``/etc/zuul/...``) lives in the sandbox."""
        return self.root / absolute.lstrip("/")

    def run(self, *args: str, timeout: float = 1200) -> PlaybookRun:
        """Run the playbook with the sandbox's variables (and ``args``); keep its output."""
        self.runs += 1
        summary = self.root / f"summary-{self.runs}.txt"
        playbook_cmd = Path(sys.executable).absolute().parent / "ansible-playbook"
        argv = [str(playbook_cmd), "-i", str(INVENTORY),
                str(PLAYBOOK), "-e", f"@{self.root / 'vars.yaml'}",
                "-e", f"deploy_summary_file={summary}", *args]
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "playbooks" / "ansible.cfg"),
               "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_FORCE_COLOR": "0"}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  env=env, cwd=REPO, stdin=subprocess.DEVNULL, check=False)
            output, returncode = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:  # keep what it printed for the log
            output = "".join(x.decode(errors="replace") if isinstance(x, bytes) else x or ""
                             for x in (exc.stdout, exc.stderr))
            output += f"\n[deploy test] ansible-playbook timed out after {timeout:g}s\n"
            returncode = -1
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / f"deploy-run-{self.runs}.log").write_text(output, encoding="utf-8")
        text = summary.read_text(encoding="utf-8") if summary.exists() else ""
        return PlaybookRun(returncode, output, text)

    def supervisord_pid(self) -> int | None:
        pidfile = self.path("/run/zuul/supervisord.pid")
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def teardown(self) -> None:
        """Stop supervisord (it stops every service, Apache included), then remove the root."""
        pid = self.supervisord_pid()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not _alive(pid), 60, what=f"supervisord (PID {pid}) to stop")
        for name in PORT_VARS:
            wait_for(lambda port=self.extra[name]: not port_open(port), 20,
                     what=f"{name} {self.extra[name]} to close")
        shutil.rmtree(self.root, ignore_errors=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers back instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left to a non-reaping PID 1 counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
