"""The launcher's configuration (``/etc/nodepool/nodepool.yaml``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.lib.config import AUTH_SCHEMA, ZOOKEEPER_SCHEMA, listen_schema, load_config

DEFAULT_PATH = "/etc/nodepool/nodepool.yaml"

SCHEMA = vol.Schema(
    {
        vol.Required("zookeeper"): ZOOKEEPER_SCHEMA,
        vol.Optional("api", default={}): listen_schema(8005),
        vol.Optional("auth"): AUTH_SCHEMA,
    }
)


def load(path: str | Path) -> dict[str, Any]:
    """Load and validate the launcher config."""
    return load_config(path, SCHEMA)
