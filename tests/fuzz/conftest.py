"""The front door as a hostile client meets it: scheduler, launcher, webhook worker, Apache.

``front_door`` starts geard, a ``zuul-scheduler`` (test tenant, JWT auth, the GitHub
stand-in), a ``nodepool-launcher`` on ZooKeeper, one ``zuul-webhook`` worker and Apache in
front of them, all real processes stopped at teardown.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.harness.servers import ApacheServer, GearmanServer, HTTPService
from tests.harness.stack import Stack
from tests.scheduler.conftest import AUTH, bearer, start_scheduler, tenant_file
from tests.scheduler.github_api import GitHubAPI
from tests.webhook.conftest import start_worker

LAUNCHER = {
    "labels": [{"name": "ubuntu-jammy"}],
    "providers": [{"name": "localhost", "driver": "local",
                   "pools": [{"name": "main", "max-servers": 2, "labels": ["ubuntu-jammy"]}]}],
}


@dataclass
class FrontDoor:
    """The processes behind one Apache, and the public base URLs."""

    apache: ApacheServer
    geard: GearmanServer
    scheduler: HTTPService
    launcher: HTTPService
    worker: HTTPService

    @property
    def zuul(self) -> str:
        return self.apache.url + "/zuul"

    @property
    def nodepool(self) -> str:
        return self.apache.url + "/nodepool"


# A token that is admin of the test tenant and of Nodepool.
ADMIN = bearer(["example", "nodepool"])


@pytest.fixture
def front_door(zk_stack: Stack, github_api: GitHubAPI) -> Iterator[FrontDoor]:
    geard = zk_stack.gearman()
    launcher = zk_stack.launcher("fuzz-launcher", **{"launcher-name": "fuzz-launcher",
                                                     "auth": AUTH, **LAUNCHER})
    scheduler = start_scheduler(zk_stack, geard, github_api, tenant_file(zk_stack.workdir),
                                zookeeper=zk_stack.zookeeper_conf())
    worker = start_worker(zk_stack, geard)
    apache = zk_stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}",
                                   "webhook": [f"127.0.0.1:{worker.port}"]},
                             nodepool={"launcher": f"127.0.0.1:{launcher.port}"})
    yield FrontDoor(apache, geard, scheduler, launcher, worker)


@pytest.fixture
def github_api() -> Iterator[GitHubAPI]:
    api = GitHubAPI().start()
    yield api
    api.stop()
