"""Every service registers in ZooKeeper: ``GET /api/components`` through Apache lists the
scheduler (with its in-process executor), a webhook worker, a log streamer and a Nodepool
launcher, each with Zuul's ``hostname``/``state``/``version``, and forgets one that stops."""
from __future__ import annotations

from typing import Any

from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.webhook.conftest import start_worker
from zuul import __version__
from zuul.lib.components import ComponentState

KINDS = {"scheduler", "executor", "webhook", "streamer", "launcher"}


def test_components_lists_every_service_through_apache(zk_stack: Stack) -> None:
    stack = zk_stack
    zk = stack.zookeeper_conf()
    geard = stack.gearman()
    scheduler = stack.scheduler(geard, zookeeper=zk, connections={})
    launcher = stack.launcher(labels=[{"name": "local"}], providers=[])
    worker = start_worker(stack, geard, zookeeper=zk)
    log_root = stack.workdir / "logs"
    log_root.mkdir()
    streamer = stack.service("zuul-log-streamer", "zuul-log-streamer",
                             {"log_root": str(log_root), "zookeeper": zk})
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    url = f"{apache.url}/zuul/api/components"

    def listed() -> dict[str, Any] | None:
        found = get(url).json()
        return found if set(found) >= KINDS else None

    components = wait_for(listed, 30, what=f"{sorted(KINDS)} in /api/components")
    assert isinstance(components, dict)
    for kind in KINDS:
        assert len(components[kind]) == 1, components
        entry = components[kind][0]
        assert set(entry) == {"hostname", "state", "version"}, entry
        assert entry["state"] == ComponentState.RUNNING.value
        assert entry["version"] == __version__ and entry["hostname"]
    assert launcher.url and worker.url

    # A service that stops leaves the registry (its znode is removed, or its session ends).
    streamer.stop()
    wait_for(lambda: "streamer" not in get(url).json(), 15, what="the streamer to leave")
