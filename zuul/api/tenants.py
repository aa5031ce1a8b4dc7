"""Read-only tenant routes: tenants, info, status, pipelines, projects, jobs, labels."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from zuul.api.common import get_project, get_tenant
from zuul.api.status import change_items, status_document
from zuul.lib.web import JSONHTTPError, json_response
from zuul.scheduler.model import Project, Tenant

if TYPE_CHECKING:
    from zuul.scheduler.service import SchedulerService


def _project_dict(project: Project) -> dict[str, Any]:
    return {"name": project.name, "connection_name": project.connection,
            "canonical_name": f"github.com/{project.name}", "type": "untrusted",
            "git_url": project.git_url}


def _project_detail(tenant: Tenant, project: Project) -> dict[str, Any]:
    pipelines = [{"name": name, "queue_name": project.queue,
                  "jobs": [[tenant.jobs[j].to_dict()] for j in jobs]}
                 for name, jobs in project.pipelines.items()]
    return {**_project_dict(project), "configs": [{
        "is_template": False, "templates": [], "default_branch": "main",
        "queue_name": project.queue, "merge_mode": project.merge_mode, "pipelines": pipelines}]}


class TenantRoutes:
    """Handlers bound to the scheduler service."""

    def __init__(self, service: SchedulerService) -> None:
        self.service = service
        self.scheduler = service.scheduler

    async def tenants(self, _request: web.Request) -> web.Response:
        """``GET /api/tenants``: names with project and queued item counts."""
        return json_response([
            {"name": name, "projects": len(tenant.projects),
             "queue": sum(len(m.items) for m in self.scheduler.managers[name].values())}
            for name, tenant in sorted(self.scheduler.tenants.items())])

    async def info(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/info``."""
        tenant = get_tenant(self.scheduler, request)
        return json_response(self.service.info(self.service.base_url(request), tenant.name))

    async def status(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/status``: Zuul's status.json, cached ~1 s."""
        tenant = get_tenant(self.scheduler, request)
        return self.service.snapshots.respond(
            request, ("status", tenant.name),
            lambda: status_document(self.scheduler, tenant.name))

    async def status_change(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/status/change/{change}``: that change's items."""
        tenant = get_tenant(self.scheduler, request)
        snap = self.service.snapshots.get(
            ("status", tenant.name), lambda: status_document(self.scheduler, tenant.name))
        return json_response(change_items(json.loads(snap.body), request.match_info["change"]))

    async def pipelines(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/pipelines``."""
        tenant = get_tenant(self.scheduler, request)
        return json_response([
            {"name": p.name, "manager": p.manager, "description": p.description,
             "triggers": [{"name": conn, "driver": "github"}
                          for conn in sorted({t.connection for t in p.triggers})]}
            for p in tenant.pipelines.values()])

    async def projects(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/projects``."""
        tenant = get_tenant(self.scheduler, request)
        return json_response([_project_dict(p) for p in tenant.projects.values()])

    async def project(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/project/{project}``."""
        tenant = get_tenant(self.scheduler, request)
        project = get_project(tenant, request.match_info["project"])
        return json_response(_project_detail(tenant, project))

    async def jobs(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/jobs``."""
        tenant = get_tenant(self.scheduler, request)
        return json_response([
            {"name": j.name, "description": j.description,
             "variants": j.to_dict()["variants"]} for j in tenant.jobs.values()])

    async def job(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/job/{name}``: the job's variants (one here)."""
        tenant = get_tenant(self.scheduler, request)
        job = tenant.jobs.get(request.match_info["name"])
        if job is None:
            raise JSONHTTPError(404, "not_found", f"Job '{request.match_info['name']}' "
                                f"does not exist in tenant '{tenant.name}'.")
        return json_response([job.to_dict()])

    async def labels(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/labels``: node labels known to Nodepool."""
        get_tenant(self.scheduler, request)
        nodes = self.service.nodes
        if nodes is None:
            return json_response([])
        if not nodes.connected:
            raise JSONHTTPError(503, "service_unavailable", "ZooKeeper is not reachable.")
        labels = await nodes.labels()
        return json_response([
            {**(label if isinstance(label, dict) else {}),
             "name": label["name"] if isinstance(label, dict) else str(label)}
            for label in labels])


def add_routes(app: web.Application, service: SchedulerService) -> None:
    """Register the read-only tenant routes."""
    r = TenantRoutes(service)
    app.router.add_get("/api/tenants", r.tenants)
    app.router.add_get("/api/tenant/{tenant}/info", r.info)
    app.router.add_get("/api/tenant/{tenant}/status", r.status)
    app.router.add_get("/api/tenant/{tenant}/status/change/{change}", r.status_change)
    app.router.add_get("/api/tenant/{tenant}/pipelines", r.pipelines)
    app.router.add_get("/api/tenant/{tenant}/projects", r.projects)
    app.router.add_get("/api/tenant/{tenant}/project/{project:.+}", r.project)
    app.router.add_get("/api/tenant/{tenant}/jobs", r.jobs)
    app.router.add_get("/api/tenant/{tenant}/job/{name}", r.job)
    app.router.add_get("/api/tenant/{tenant}/labels", r.labels)
