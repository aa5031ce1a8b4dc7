"""The real services behind a real Apache, as the dashboard's end-to-end tests use them."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.dashboard.conftest import STATIC_ROOT
from tests.harness.servers import ApacheServer, GearmanServer, HTTPService
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class DashboardStack:
    """geard, the scheduler (with its executor), the log streamer, Nodepool and Apache."""

    apache: ApacheServer
    scheduler: HTTPService
    gearman: GearmanServer
    prefix: str
    streamer: HTTPService | None = None

    @property
    def url(self) -> str:
        """The dashboard's public URL (ends with /)."""
        return f"{self.apache.url}{self.prefix.rstrip('/')}/"

    def send_event(self, event: str, body: dict[str, Any]) -> str:
        """Submit one GitHub event over gearman, as a webhook worker does; return its status."""
        events = Events(self.gearman)
        try:
            return events.send(event, body)
        finally:
            events.close()


def start(stack: Stack, github_url: str, prefix: str = "/zuul", nodepool: bool = True,
          streamer: bool = True, auth: dict[str, Any] | None = None,
          security: dict[str, Any] | None = None) -> DashboardStack:
    """Start the services (Nodepool and streamer optional) and Apache at ``prefix``.

    ``auth`` is the scheduler's bearer-token section (admin actions); none by default.
    ``security`` is the deployment's ``security`` section for Apache (e.g. ``oidc_issuers``).
    """
    workdir = stack.workdir
    log_root = workdir / "logs"
    log_root.mkdir(mode=0o755)
    config_repo = workdir / "config-repo"
    if not config_repo.exists():
        shutil.copytree(FIXTURES / "config-repo", config_repo)
    tenants = workdir / "tenant.yaml"
    tenants.write_text((FIXTURES / "tenant.yaml").read_text())
    geard = stack.gearman()
    conf: dict[str, Any] = {
        "tenant_config": str(tenants),
        "connections": {"github": {"api_url": github_url, "token": "t"}},
        "executor": {"log_root": str(log_root), "max_concurrent": 2}}
    if auth is not None:
        conf["auth"] = auth
    zuul: dict[str, Any] = {"prefix": prefix, "dashboard_root": str(STATIC_ROOT),
                            "log_root": str(log_root)}
    launcher = None
    if nodepool:
        conf["zookeeper"] = stack.zookeeper_conf()
        launcher = stack.launcher(
            labels=[{"name": "local", "min-ready": 1}],
            providers=[{"name": "localhost", "driver": "local",
                        "pools": [{"name": "main", "max-servers": 4, "labels": ["local"]}]}])
    scheduler = stack.scheduler(geard, **conf)
    zuul["scheduler"] = f"127.0.0.1:{scheduler.port}"
    log_streamer = None
    if streamer:
        log_streamer = stack.service("zuul-log-streamer", "zuul-log-streamer",
                                     {"log_root": str(log_root)})
        zuul["streamer"] = f"127.0.0.1:{log_streamer.port}"
    apache = stack.apache(zuul=zuul, nodepool={"launcher": f"127.0.0.1:{launcher.port}"}
                          if launcher else None, **({"security": security} if security else {}))
    return DashboardStack(apache, scheduler, geard, prefix, log_streamer)
