"""The scheduler's service configuration (``/etc/zuul/scheduler.yaml``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.executor.sandbox import SANDBOX_SCHEMA, with_sensitive_paths
from zuul.lib.config import (
    AUTH_SCHEMA,
    GEARMAN_SCHEMA,
    GEARMAN_TLS_SCHEMA,
    ZOOKEEPER_SCHEMA,
    ConfigError,
    NonEmptyStr,
    Port,
    listen_schema,
    load_config,
)

DEFAULT_PATH = "/etc/zuul/scheduler.yaml"


def _log_url_template(value: object) -> str:
    """A build log URL template: empty (derive from api.public_url) or containing {uuid}."""
    if not isinstance(value, str):
        raise vol.Invalid("expected a string")
    if value and "{uuid}" not in value:
        raise vol.Invalid("expected a URL template containing {uuid}")
    return value

GEARMAN_SERVER_SCHEMA = vol.Schema(
    {
        vol.Optional("start", default=True): bool,
        vol.Optional("listen", default="127.0.0.1"): NonEmptyStr,
        vol.Optional("port", default=4730): Port,
        **GEARMAN_TLS_SCHEMA,
    }
)

CONNECTION_SCHEMA = vol.Schema(
    {
        vol.Optional("driver", default="github"): vol.In(["github"], msg="expected github"),
        vol.Optional("api_url", default="https://api.github.com"): NonEmptyStr,
        vol.Optional("token", default=""): str,
        vol.Optional("app_id"): vol.All(int, vol.Range(min=1)),
        vol.Optional("app_key"): NonEmptyStr,
        vol.Optional("status_url", default=""): str,
        vol.Optional("context_prefix", default="zuul"): NonEmptyStr,
    }
)

EXECUTOR_SCHEMA = vol.Schema(
    {
        vol.Optional("sandbox"): SANDBOX_SCHEMA,
        vol.Optional("log_root"): NonEmptyStr,
        vol.Optional("work_root"): NonEmptyStr,
        vol.Optional("max_concurrent", default=4): vol.All(int, vol.Range(min=1)),
        vol.Optional("log_url", default=""): _log_url_template,
        # Run builds on zuul-executor processes through ZooKeeper (needs zookeeper).
        vol.Optional("external", default=False): bool,
        # Tries of a build whose executor dies before it is reported as ERROR.
        vol.Optional("max_tries", default=3): vol.All(int, vol.Range(min=1)),
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
        vol.Optional("tenant_config"): NonEmptyStr,
        vol.Optional("connections"): {str: CONNECTION_SCHEMA},
        vol.Optional("database", default={}): {vol.Optional("url"): NonEmptyStr},
        vol.Optional("executor", default={}): EXECUTOR_SCHEMA,
        # Encrypts the per-project private keys at rest (keys/ under state_dir). Without
        # it a random password is kept in <state_dir>/keystore-password (mode 0600).
        vol.Optional("keystore", default={}): {vol.Optional("password"): NonEmptyStr},
    }
)


def load(path: str | Path) -> dict[str, Any]:
    """Load and validate the scheduler config; fill in the gearman client list."""
    conf = load_config(path, SCHEMA)
    server = conf.get("gearman_server")
    if "gearman" not in conf:
        if not server or not server["start"]:
            raise ConfigError(f"{path}: gearman: required unless gearman_server.start is true")
        # The scheduler's own client of its in-process server uses the server's TLS files.
        conf["gearman"] = {"servers": [f"{server['listen']}:{server['port']}"],
                           **{k: v for k, v in server.items() if k.startswith("ssl_")}}
    if conf["executor"]["external"] and not conf.get("zookeeper"):
        raise ConfigError(f"{path}: executor.external: needs a zookeeper section")
    if not conf.get("connections"):
        conf["connections"] = {"github": CONNECTION_SCHEMA({})}
    for name, connection in conf["connections"].items():
        if ("app_id" in connection) != ("app_key" in connection):
            raise ConfigError(f"{path}: connections.{name}: app_id and app_key go together")
        if "app_key" in connection and not Path(connection["app_key"]).is_file():
            raise ConfigError(f"{path}: connections.{name}.app_key: "
                              f"{connection['app_key']} not found")
    if conf.get("tenant_config"):
        conf["tenant_config"] = str(Path(path).resolve().parent / conf["tenant_config"])
    state = Path(conf["state_dir"])
    conf["database"].setdefault("url", f"sqlite:///{state / 'zuul.db'}")
    conf["executor"].setdefault("log_root", str(state / "logs"))
    conf["executor"].setdefault("work_root", str(state / "work"))
    conf["executor"]["sandbox"] = with_sensitive_paths(conf, path)
    return conf
