"""The launcher's ZooKeeper connection (kazoo)."""
from __future__ import annotations

import logging
from typing import Any

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

log = logging.getLogger(__name__)


def make_client(zk_conf: dict[str, Any]) -> KazooClient:
    """A kazoo client for the configured ensemble that retries connecting forever."""
    hosts = ",".join(zk_conf["hosts"]) + (zk_conf.get("chroot") or "")
    return KazooClient(
        hosts=hosts,
        timeout=zk_conf.get("session_timeout", 10.0),
        connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=2.0),
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
    )
