"""Read-only tenant routes: tenants, status, pipelines, projects, jobs, labels, config
errors, semaphores, the frozen job graph and the per-project public keys."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from zuul.api.common import (
    body_string,
    canonical_name,
    get_pipeline,
    get_project,
    get_tenant,
    int_query,
    json_body,
)
from zuul.api.routes import Route
from zuul.api.view import APIContext
from zuul.lib.web import JSONHTTPError, json_response

NO_KEYS = "This scheduler has no keystore."


def project_dict(project: Any) -> dict[str, Any]:
    """A project as in Zuul's ``/projects``."""
    return {"name": project.name, "connection_name": project.connection,
            "canonical_name": canonical_name(project.name),
            "type": "untrusted", "git_url": project.git_url}


def job_variant(tenant: Any, job: Any) -> dict[str, Any]:
    """A job variant as in Zuul's ``/job/{name}`` (``Job.toDict``)."""
    path, _, where = job.source.partition(": ")
    playbook = str(job.playbook.relative_to(tenant.config_repo)) if job.playbook and \
        job.playbook.is_relative_to(tenant.config_repo) else (
            str(job.playbook) if job.playbook else None)
    context = {"project": None, "branch": "main", "path": path or None}
    return {
        "name": job.name, "branches": [], "override_checkout": None, "files": [],
        "irrelevant_files": [], "variant_description": "", "source_context": context,
        "description": job.description, "required_projects": [], "include_projects": [],
        "exclude_projects": [], "semaphores": [{"name": s} for s in job.semaphores],
        "variables": job.variables, "extra_variables": {}, "host_variables": {},
        "group_variables": {}, "final": False, "abstract": False, "intermediate": False,
        "protected": None, "voting": job.voting, "pre_timeout": None,
        "timeout": int(job.timeout), "post_timeout": None, "tags": [], "provides": [],
        "requires": [],
        "dependencies": [{"name": d, "soft": False} for d in job.dependencies],
        "attempts": 1, "roles": [],
        "run": [{"path": playbook, "roles": [], "trusted": False, "project": None,
                 "branch": "main", "source_context": context}] if playbook else [],
        "pre_run": [], "post_run": [], "cleanup_run": [], "post_review": None,
        "match_on_config_updates": True, "deduplicate": "auto", "failure_output": [],
        "image_build_name": None, "type": "zuul", "include_vars": [],
        "parent": job.parent,
        "nodeset": {"name": None, "nodes": [{"name": f"node{i}" if len(job.nodeset) > 1
                                              else "node", "label": label}
                                             for i, label in enumerate(job.nodeset)],
                    "groups": [], "alternatives": []},
        "ansible_split_streams": False, "ansible_version": None,
        "workspace_scheme": "golang", "workspace_checkout": True,
        "secret_names": [ref.partition("=")[0] for ref in job.secrets],
    }


def _project_detail(tenant: Any, project: Any) -> dict[str, Any]:
    pipelines = [{"name": name, "queue_name": project.queue,
                  "jobs": [[job_variant(tenant, tenant.jobs[j])] for j in jobs]}
                 for name, jobs in project.pipelines.items()]
    return {**project_dict(project), "metadata": {
        "is_template": False, "default_branch": "main", "merge_mode": project.merge_mode,
        "queue_name": project.queue}, "configs": [{
            "source_context": {"project": project.name, "branch": "main", "path": None},
            "is_template": False, "templates": [], "default_branch": "main",
            "queue_name": project.queue, "merge_mode": project.merge_mode, "pipelines": pipelines}]}


def _status_change(document: dict[str, Any], change: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for pipeline in document["pipelines"]:
        for queue in pipeline["change_queues"]:
            for head in queue["heads"]:
                found.extend(i for i in head if any(
                    r["id"] == change or r["id"].startswith(change + ",") for r in i["refs"]))
    return found


class TenantRoutes:
    """Handlers bound to the API context."""

    def __init__(self, ctx: APIContext) -> None:
        self.ctx = ctx
        self.view = ctx.view

    async def tenants(self, _request: web.Request) -> web.Response:
        """``GET /api/tenants``: names with project and queued item counts."""
        found = []
        for name in self.view.tenant_names():
            tenant = self.view.tenant(name)
            if tenant is not None:
                found.append({"name": name, "projects": len(tenant.projects),
                              "queue": self.view.queued(name)})
        return json_response(found)

    async def info(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/info``."""
        tenant = get_tenant(self.view, request)
        return json_response(self.ctx.info(self.ctx.base_url(request), tenant.name))

    async def status(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/status``: Zuul's status.json, cached ~1 s."""
        tenant = get_tenant(self.view, request)
        return self.ctx.snapshots.respond(request, ("status", tenant.name),
                                          lambda: self.view.status(tenant.name))

    async def status_change(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/status/change/{change}``: that change's items."""
        tenant = get_tenant(self.view, request)
        snap = self.ctx.snapshots.get(("status", tenant.name),
                                      lambda: self.view.status(tenant.name))
        return json_response(_status_change(json.loads(snap.body),
                                            request.match_info["change"]))

    async def pipelines(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/pipelines``."""
        tenant = get_tenant(self.view, request)
        return json_response([
            {"name": p.name, "manager": p.manager, "description": p.description,
             "triggers": [{"name": conn, "driver": "github"}
                          for conn in sorted({t.connection for t in p.triggers})]}
            for p in tenant.pipelines.values()])

    async def projects(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/projects``."""
        tenant = get_tenant(self.view, request)
        return json_response(sorted((project_dict(p) for p in tenant.projects.values()),
                                    key=lambda p: p["name"]))

    async def project(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/project/{project}`` (short or canonical name)."""
        tenant = get_tenant(self.view, request)
        project = get_project(tenant, request.match_info["project"])
        return json_response(_project_detail(tenant, project))

    async def jobs(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/jobs``: base jobs have no ``parent`` (as in Zuul)."""
        tenant = get_tenant(self.view, request)
        out = []
        for name in sorted(tenant.jobs):
            job = tenant.jobs[name]
            entry: dict[str, Any] = {"name": name}
            if job.description:
                entry["description"] = job.description.split("\n")[0]
            if job.parent:
                entry["variants"] = [{"parent": job.parent}]
            out.append(entry)
        return json_response(out)

    async def job(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/job/{name}``: the job's variants (one here)."""
        tenant = get_tenant(self.view, request)
        job = tenant.jobs.get(request.match_info["name"])
        if job is None:
            raise JSONHTTPError(404, "not_found", f"Job '{request.match_info['name']}' "
                                f"does not exist in tenant '{tenant.name}'.")
        return json_response([job_variant(tenant, job)])

    async def labels(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/labels``: node labels known to Nodepool."""
        get_tenant(self.view, request)
        nodes = self.ctx.nodes()
        if nodes is None:
            return json_response([])
        if not nodes.connected:
            raise JSONHTTPError(503, "service_unavailable", "ZooKeeper is not reachable.")
        labels = await nodes.labels()
        return json_response([
            {**(label if isinstance(label, dict) else {}),
             "name": label["name"] if isinstance(label, dict) else str(label)}
            for label in labels])

    async def config_errors(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/config-errors`` (filters ``project``, ``severity``,
        ``name``, ``limit``, ``skip``)."""
        tenant = get_tenant(self.view, request)
        errors = self.view.config_errors(tenant.name)
        for key, field in (("severity", "severity"), ("name", "name")):
            if request.query.get(key):
                errors = [e for e in errors if e.get(field) == request.query[key]]
        if request.query.get("project"):
            errors = [e for e in errors if e.get("stanza_name") == request.query["project"]]
        skip = int_query(request, "skip", 0, 10**9)
        limit = int_query(request, "limit", 50, 1000)
        return json_response([{k: e[k] for k in ("source_context", "error", "short_error",
                                                 "severity", "name")}
                              for e in errors[skip:skip + limit]])

    async def tenant_status(self, request: web.Request) -> web.Response:
        tenant = get_tenant(self.view, request)
        return json_response({"config_error_count": len(self.view.config_errors(tenant.name))})

    async def semaphores(self, request: web.Request) -> web.Response:
        """``GET /api/tenant/{tenant}/semaphores`` with their current holders."""
        tenant = get_tenant(self.view, request)
        holders = self.view.semaphore_holders(tenant.name)
        return json_response([
            {"name": name, "global": False, "max": limit,
             "holders": {"count": len(holders.get(name, [])),
                         "this_tenant": holders.get(name, []), "other_tenants": 0}}
            for name, limit in sorted(tenant.semaphores.items())])

    def _freeze(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        tenant = get_tenant(self.view, request)
        pipeline = request.match_info["pipeline"]
        if pipeline not in tenant.pipelines:
            raise JSONHTTPError(404, "not_found", f"Pipeline '{pipeline}' does not exist.")
        project = get_project(tenant, request.match_info["project"])
        graph = self.view.freeze(tenant.name, pipeline, project.name,
                                 request.match_info["branch"])
        if graph is None:
            raise JSONHTTPError(404, "not_found", f"Project {project.name} runs no jobs in "
                                f"pipeline {pipeline}.")
        return tenant, graph

    async def freeze_pipeline(self, request: web.Request) -> web.Response:
        """``POST .../project/{project}/freeze-pipeline`` ``{pipeline, ref}``: what the
        dashboard's enqueue form asks before enqueueing a ref, the parameters the project's
        pipeline config declares (Zuul 14.3's ``ProjectPipelineConverter``); our config
        language declares none, so the list is empty once project and pipeline exist."""
        tenant = get_tenant(self.view, request)
        get_project(tenant, request.match_info["project"])
        body = await json_body(request)
        body_string(body, "ref")
        get_pipeline(tenant, body.get("pipeline"))
        return json_response({"parameters": []})

    async def freeze_jobs(self, request: web.Request) -> web.Response:
        """The job graph of a project in a pipeline: jobs and their dependencies."""
        _tenant, graph = self._freeze(request)
        return json_response(graph)

    async def freeze_job(self, request: web.Request) -> web.Response:
        """One frozen job of that graph (the variables it would run with, no secrets)."""
        tenant, graph = self._freeze(request)
        name = request.match_info["job"]
        if name not in [j["name"] for j in graph]:
            raise JSONHTTPError(404, "not_found", f"Job '{name}' does not run there.")
        job = tenant.jobs[name]
        variant = job_variant(tenant, job)
        frozen = {k: variant[k] for k in ("name", "voting", "timeout", "dependencies",
                                          "nodeset", "semaphores", "parent", "run",
                                          "pre_run", "post_run", "cleanup_run",
                                          "post_timeout", "attempts", "tags",
                                          "required_projects")}
        frozen.update({"job": name, "vars": job.variables, "extra_vars": {},
                       "host_vars": {}, "group_vars": {}, "playbooks": variant["run"],
                       "ansible_version": None, "ansible_split_streams": False,
                       "override_branch": None, "override_checkout": None,
                       "workspace_scheme": "golang", "workspace_checkout": True,
                       "secret_names": variant["secret_names"]})
        return json_response(frozen)

    async def _key(self, request: web.Request, kind: str) -> web.Response:
        tenant = get_tenant(self.view, request)
        project = get_project(tenant, request.match_info["project"])
        keys = self.ctx.extra.get("keys")
        if keys is None:
            raise JSONHTTPError(404, "not_found", NO_KEYS)
        if kind == "secrets":
            text = await asyncio.to_thread(keys.secrets_public_pem, project.connection,
                                           project.name)
        else:
            text = await asyncio.to_thread(keys.ssh_public, project.connection, project.name)
        return web.Response(text=text, content_type="text/plain")

    async def key(self, request: web.Request) -> web.Response:
        """``GET .../key/{project}.pub``: the PEM key that encrypts the project's secrets."""
        return await self._key(request, "secrets")

    async def ssh_key(self, request: web.Request) -> web.Response:
        """``GET .../project-ssh-key/{project}.pub``: the project's SSH public key."""
        return await self._key(request, "ssh")


def routes(ctx: APIContext) -> list[Route]:
    """The read-only tenant routes."""
    r = TenantRoutes(ctx)
    base = "/api/tenant/{tenant}"
    freeze = base + "/pipeline/{pipeline}/project/{project:.+}/branch/{branch:.+}"
    return [
        Route("tenants", "GET", "/api/tenants", r.tenants),
        Route("tenant_info", "GET", base + "/info", r.info),
        Route("status", "GET", base + "/status", r.status),
        Route("status_change", "GET", base + "/status/change/{change}", r.status_change),
        Route("pipelines", "GET", base + "/pipelines", r.pipelines),
        Route("projects", "GET", base + "/projects", r.projects),
        Route("project", "GET", base + "/project/{project:.+}", r.project),
        Route("jobs", "GET", base + "/jobs", r.jobs),
        Route("job", "GET", base + "/job/{name}", r.job),
        Route("labels", "GET", base + "/labels", r.labels),
        Route("config_errors", "GET", base + "/config-errors", r.config_errors),
        Route("tenant_status", "GET", base + "/tenant-status", r.tenant_status),
        Route("semaphores", "GET", base + "/semaphores", r.semaphores),
        Route("project_freeze_jobs", "GET", freeze + "/freeze-jobs", r.freeze_jobs),
        Route("project_freeze_pipeline", "POST", base + "/project/{project:.+}/freeze-pipeline",
              r.freeze_pipeline),
        Route("project_freeze_job", "GET", freeze + "/freeze-job/{job}", r.freeze_job),
        Route("key", "GET", base + "/key/{project:.+}.pub", r.key),
        Route("project_ssh_key", "GET", base + "/project-ssh-key/{project:.+}.pub",
              r.ssh_key),
    ]
