"""The executor's configuration (``/etc/zuul/executor.yaml``)."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.executor.sandbox import SANDBOX_SCHEMA, with_sensitive_paths
from zuul.lib.config import ZOOKEEPER_SCHEMA, NonEmptyStr, listen_schema, load_config

DEFAULT_PATH = "/etc/zuul/executor.yaml"

SCHEMA = vol.Schema(
    {
        vol.Optional("api", default={}): listen_schema(9003),
        vol.Required("zookeeper"): ZOOKEEPER_SCHEMA,
        vol.Optional("state_dir", default="/var/lib/zuul/executor"): NonEmptyStr,
        vol.Optional("executor", default={}): vol.Schema({
            vol.Optional("name"): NonEmptyStr,
            vol.Optional("log_root"): NonEmptyStr,
            vol.Optional("work_root"): NonEmptyStr,
            vol.Optional("max_concurrent", default=4): vol.All(int, vol.Range(min=1)),
            vol.Optional("sandbox"): SANDBOX_SCHEMA,
        }),
    }
)


def load(path: str | Path) -> dict[str, Any]:
    """Load and validate ``executor.yaml``; fill in the name and directories."""
    conf = load_config(path, SCHEMA)
    state = Path(conf["state_dir"])
    executor = conf["executor"]
    executor.setdefault("name", f"{socket.gethostname()}:{conf['api']['port']}")
    executor.setdefault("log_root", str(state / "logs"))
    executor.setdefault("work_root", str(state / "work"))
    executor["sandbox"] = with_sensitive_paths(conf, path)
    return conf
