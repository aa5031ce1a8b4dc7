"""The scheduler's service configuration (``/etc/zuul/scheduler.yaml``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.lib.config import (
    AUTH_SCHEMA,
    GEARMAN_SCHEMA,
    ZOOKEEPER_SCHEMA,
    ConfigError,
    NonEmptyStr,
    Port,
    listen_schema,
    load_config,
)

DEFAULT_PATH = "/etc/zuul/scheduler.yaml"

GEARMAN_SERVER_SCHEMA = vol.Schema(
    {
        vol.Optional("start", default=True): bool,
        vol.Optional("listen", default="127.0.0.1"): NonEmptyStr,
        vol.Optional("port", default=4730): Port,
    }
)

SCHEMA = vol.Schema(
    {
        vol.Optional("api", default={}): listen_schema(9000).extend(
            {vol.Optional("nodepool_url", default="/nodepool/"): str}),
        vol.Optional("gearman_server"): GEARMAN_SERVER_SCHEMA,
        vol.Optional("gearman"): GEARMAN_SCHEMA,
        vol.Optional("zookeeper"): ZOOKEEPER_SCHEMA,
        vol.Optional("auth"): AUTH_SCHEMA,
        vol.Optional("state_dir", default="/var/lib/zuul"): NonEmptyStr,
    }
)


def load(path: str | Path) -> dict[str, Any]:
    """Load and validate the scheduler config; fill in the gearman client list."""
    conf = load_config(path, SCHEMA)
    server = conf.get("gearman_server")
    if "gearman" not in conf:
        if not server or not server["start"]:
            raise ConfigError(f"{path}: gearman: required unless gearman_server.start is true")
        conf["gearman"] = {"servers": [f"{server['listen']}:{server['port']}"]}
    return conf
