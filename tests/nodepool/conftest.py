"""Helpers for Nodepool tests: launcher configs, a started NodeRequester, async polling."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from kazoo.client import KazooClient

from nodepool.zk import NodepoolStore
from tests.harness.servers import HTTPService
from tests.harness.stack import Stack
from zuul.nodes import NodeRequester


def local_config(labels: dict[str, int] | None = None, max_servers: int = 10,
                 provider: str = "localhost") -> dict[str, Any]:
    """A launcher config with one ``local`` pool; ``labels`` maps name -> min-ready."""
    labels = labels or {"local-label": 0}
    return {
        "labels": [{"name": n, "min-ready": m} for n, m in labels.items()],
        "providers": [{"name": provider, "driver": "local", "pools": [
            {"name": "main", "max-servers": max_servers, "labels": list(labels)}]}],
    }


def static_config(hosts: list[dict[str, Any]], labels: list[str] | None = None,
                  provider: str = "static") -> dict[str, Any]:
    """A launcher config with one ``static`` pool of ``hosts``."""
    labels = labels or sorted({label for h in hosts for label in h["labels"]})
    return {
        "labels": [{"name": n} for n in labels],
        "providers": [{"name": provider, "driver": "static", "pools": [
            {"name": "main", "nodes": hosts}]}],
    }


def start_launcher(stack: Stack, name: str, conf: dict[str, Any]) -> HTTPService:
    """Start ``nodepool-launcher`` registered in ZooKeeper as ``name``."""
    return stack.launcher(name, **{"launcher-name": name, **conf})


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0,
                     what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy, failing after ``timeout``.

    A sync predicate (may block briefly on ZooKeeper) runs in a thread; a coroutine function
    is awaited.
    """
    deadline = time.monotonic() + timeout
    while True:
        if asyncio.iscoroutinefunction(predicate):
            value = await predicate()
        else:
            value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def zk_client(zk_stack: Stack) -> Any:
    """A kazoo client inside this test's chroot, for looking at Nodepool's records."""
    assert zk_stack.zookeeper is not None
    client: KazooClient = zk_stack.zookeeper.client(zk_stack.zk_chroot)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def store(zk_client: KazooClient) -> NodepoolStore:
    return NodepoolStore(zk_client)


@pytest.fixture
async def make_requester(zk_stack: Stack
                         ) -> AsyncIterator[Callable[[str], Awaitable[NodeRequester]]]:
    """Start NodeRequesters on this test's chroot; all are stopped at teardown."""
    started: list[NodeRequester] = []

    async def make(name: str = "zuul-test") -> NodeRequester:
        requester = NodeRequester(zk_stack.zookeeper_conf(), name)
        await requester.start()
        started.append(requester)
        return requester

    yield make
    for requester in started:
        await requester.stop()


@pytest.fixture
async def requester(make_requester: Callable[[str], Awaitable[NodeRequester]]
                    ) -> NodeRequester:
    return await make_requester("zuul-test")
