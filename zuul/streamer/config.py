"""The log streamer's configuration (``/etc/zuul/streamer.yaml``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.lib.config import ZOOKEEPER_SCHEMA, NonEmptyStr, listen_schema, load_config

DEFAULT_PATH = "/etc/zuul/streamer.yaml"

Seconds = vol.All(vol.Coerce(float), vol.Range(min=0.001), msg="expected a positive number")

SCHEMA = vol.Schema(
    {
        vol.Optional("api", default={}): listen_schema(9001),
        vol.Required("log_root"): NonEmptyStr,
        # Optional: the streamer registers in Zuul's component registry (GET /api/components).
        vol.Optional("zookeeper"): ZOOKEEPER_SCHEMA,
        # Server websocket pings; keeps idle streams alive through proxies.
        vol.Optional("heartbeat", default=20.0): Seconds,
        # Bytes queued for one viewer before it is dropped as too slow.
        vol.Optional("client_buffer", default=256 * 1024):
            vol.All(int, vol.Range(min=1024), msg="expected a byte count of at least 1024"),
        # Seconds between checks of a running build's log when no change notice (inotify)
        # arrives: the safety net, and the only way on file systems whose remote writes
        # inotify does not see (a log root shared over NFS: set it low, e.g. 0.02).
        vol.Optional("poll_interval", default=0.5): Seconds,
        # How long a client may take to send its request message.
        vol.Optional("request_timeout", default=10.0): Seconds,
        # Concurrent streams per client address (X-Forwarded-For from Apache); more are
        # closed at once with code 4429 (zuul.lib.client_limit).
        vol.Optional("max_streams_per_client", default=20): vol.All(int, vol.Range(min=1)),
    }
)


def load(path: str | Path) -> dict[str, Any]:
    """Load and validate ``streamer.yaml``."""
    return load_config(path, SCHEMA)
