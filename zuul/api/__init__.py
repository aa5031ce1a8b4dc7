"""The scheduler's REST API routes (shapes follow Zuul's ``zuul/web``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from zuul.scheduler.service import SchedulerService


def add_routes(app: web.Application, service: SchedulerService) -> None:
    """Register every API route of the scheduler on ``app``."""
    from zuul.api import admin, builds, openapi, tenants

    tenants.add_routes(app, service)
    builds.add_routes(app, service)
    admin.add_routes(app, service)
    openapi.add_routes(app)
