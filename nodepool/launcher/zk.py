"""Moved: kazoo clients come from :func:`zuul.lib.zk.make_client` (kept for old imports)."""
from __future__ import annotations

from zuul.lib.zk import make_client

__all__ = ["make_client"]
