"""Provider drivers: where nodes come from (``local``: this host; ``static``: listed hosts)."""
from __future__ import annotations

from typing import Any

from nodepool.launcher.drivers.base import Provider
from nodepool.launcher.drivers.local import LocalProvider
from nodepool.launcher.drivers.static import StaticProvider

DRIVERS: dict[str, type[Provider]] = {"local": LocalProvider, "static": StaticProvider}


def make_providers(conf: dict[str, Any], launcher: str) -> list[Provider]:
    """One provider object per ``providers`` entry of a validated config."""
    return [DRIVERS[p["driver"]](p, launcher) for p in conf["providers"]]


__all__ = ["DRIVERS", "LocalProvider", "Provider", "StaticProvider", "make_providers"]
