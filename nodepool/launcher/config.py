"""The launcher's configuration (``/etc/nodepool/nodepool.yaml``).

Example::

    zookeeper: {hosts: ["zk1:2181", "zk2:2181"]}
    labels:
      - {name: ubuntu, min-ready: 1}
      - {name: static-host}
    providers:
      - name: localhost
        driver: local
        pools:
          - {name: main, max-servers: 10, labels: [ubuntu]}
      - name: static
        driver: static
        pools:
          - name: main
            nodes:
              - {name: 192.0.2.10, labels: [static-host], username: zuul,
                 connection-type: ssh, max-parallel-jobs: 2}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.lib.config import (
    AUTH_SCHEMA,
    ZOOKEEPER_SCHEMA,
    ConfigError,
    NonEmptyStr,
    Port,
    listen_schema,
    load_config,
)

DEFAULT_PATH = "/etc/nodepool/nodepool.yaml"

Count = vol.All(int, vol.Range(min=0), msg="expected a number >= 0")
Positive = vol.All(int, vol.Range(min=1), msg="expected a number >= 1")

LABEL = vol.Schema({vol.Required("name"): NonEmptyStr, vol.Optional("min-ready", default=0): Count})

LOCAL_POOL = vol.Schema({
    vol.Required("name"): NonEmptyStr,
    vol.Required("labels"): vol.All([NonEmptyStr], vol.Length(min=1)),
    vol.Optional("max-servers", default=10): Positive,
    vol.Optional("username"): vol.Any(None, NonEmptyStr),
})

STATIC_NODE = vol.Schema({
    vol.Required("name"): NonEmptyStr,
    vol.Required("labels"): vol.All([NonEmptyStr], vol.Length(min=1)),
    vol.Optional("username"): vol.Any(None, NonEmptyStr),
    vol.Optional("connection-type", default="ssh"): vol.In(
        ["ssh", "local"], msg="expected ssh or local"),
    vol.Optional("connection-port", default=22): Port,
    vol.Optional("max-parallel-jobs", default=1): Positive,
    vol.Optional("cleanup-check", default=True): bool,
})

STATIC_POOL = vol.Schema({
    vol.Required("name"): NonEmptyStr,
    vol.Required("nodes"): vol.All([STATIC_NODE], vol.Length(min=1)),
})

PROVIDER_BASE = {vol.Required("name"): NonEmptyStr}


def _provider(value: Any) -> Any:
    """Validate a provider with the pool schema of its driver."""
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping")
    driver = value.get("driver")
    pools: dict[Any, Any] = {"local": LOCAL_POOL, "static": STATIC_POOL}
    pool = pools.get(driver)
    if pool is None:
        raise vol.Invalid("expected local or static", path=["driver"])
    return vol.Schema({**PROVIDER_BASE, vol.Required("driver"): str,
                       vol.Required("pools"): vol.All([pool], vol.Length(min=1))})(value)


SCHEMA = vol.Schema(
    {
        vol.Required("zookeeper"): ZOOKEEPER_SCHEMA,
        vol.Optional("api", default={}): listen_schema(8005),
        vol.Optional("auth"): AUTH_SCHEMA,
        vol.Optional("launcher-name"): NonEmptyStr,
        vol.Optional("labels", default=[]): [LABEL],
        vol.Optional("providers", default=[]): [_provider],
        vol.Optional("cleanup-interval", default=1.0): vol.All(
            vol.Coerce(float), vol.Range(min=0.1, max=60)),
    }
)


def _check_labels(conf: dict[str, Any], source: str) -> None:
    """Every label a pool offers must be declared under ``labels``; names unique."""
    known = [label["name"] for label in conf["labels"]]
    if len(set(known)) != len(known):
        raise ConfigError(f"{source}: labels: duplicate label name")
    names = [p["name"] for p in conf["providers"]]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: providers: duplicate provider name")
    for i, provider in enumerate(conf["providers"]):
        for j, pool in enumerate(provider["pools"]):
            offered = pool.get("labels", [])
            for node in pool.get("nodes", []):
                offered = [*offered, *node["labels"]]
            for label in offered:
                if label not in known:
                    raise ConfigError(f"{source}: providers[{i}].pools[{j}]: label '{label}'"
                                      " is not declared under labels")


def load(path: str | Path) -> dict[str, Any]:
    """Load and validate the launcher config."""
    conf = load_config(path, SCHEMA)
    _check_labels(conf, str(path))
    return conf
