"""The tenant config: tenants, projects, pipelines, triggers, reporters and jobs (one YAML file).

See ``doc/scheduler.rst`` for the format. Every problem is a one-line :class:`ConfigError`
naming the file and the key (``tenants[0].pipelines[1].trigger.github[0].event: ...``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.lib.config import ConfigError, NonEmptyStr, load_config, validate
from zuul.merger.model import MergeMode
from zuul.scheduler.model import Job, PipelineConfig, Project, Secret, Tenant, TriggerRule
from zuul.scheduler.secrets import Encrypted, SecretLoader

EVENT_TYPES = ["pull_request", "issue_comment", "pull_request_review", "push"]
OUTCOMES = ["start", "success", "failure"]
Name = vol.All(str, vol.Match(r"^[A-Za-z0-9_.\-/]+$"), msg="expected a name ([A-Za-z0-9_.-/])")


def _regex(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("expected a regular expression")
    try:
        re.compile(value)
    except re.error as exc:
        raise vol.Invalid(f"invalid regular expression: {exc}") from None
    return value


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise vol.Invalid("expected a string or a list of strings")


TRIGGER = vol.Schema({
    vol.Required("event"): vol.In(EVENT_TYPES, msg=f"expected one of {', '.join(EVENT_TYPES)}"),
    vol.Optional("action", default=[]): _str_list,
    vol.Optional("comment"): _regex,
    vol.Optional("state", default=[]): _str_list,
    vol.Optional("ref", default=[]): vol.All(_str_list, [_regex]),
})

REPORTER_OPTIONS = vol.Schema({
    vol.Optional("status", default=True): bool,
    vol.Optional("comment", default=True): bool,
    vol.Optional("check", default=False): bool,
    vol.Optional("merge", default=False): bool,
})

# One optional reporter mapping per outcome (success, failure, ...).
OUTCOME_REPORTERS: dict[vol.Marker, Any] = {
    vol.Optional(outcome, default={}): {str: vol.Any(None, REPORTER_OPTIONS)}
    for outcome in OUTCOMES}

PIPELINE = vol.Schema({
    vol.Required("name"): Name,
    vol.Required("manager"): vol.In(["independent", "dependent"],
                                    msg="expected independent or dependent"),
    vol.Optional("description", default=""): str,
    vol.Optional("precedence", default="normal"): vol.In(["low", "normal", "high"]),
    vol.Optional("window", default=20): vol.All(int, vol.Range(min=1)),
    vol.Optional("trigger", default={}): {str: [TRIGGER]},
    **OUTCOME_REPORTERS,
})

def _secret_refs(value: Any) -> list[dict[str, str]]:
    """A job's ``secrets``: names, or ``{name: <variable>, secret: <secret>}`` mappings."""
    refs = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, str):
            refs.append({"name": entry, "secret": entry})
        elif isinstance(entry, dict) and set(entry) <= {"name", "secret"} and \
                isinstance(entry.get("name"), str) and \
                isinstance(entry.get("secret", entry.get("name")), str):
            refs.append({"name": entry["name"],
                         "secret": entry["secret"] if "secret" in entry else entry["name"]})
        else:
            raise vol.Invalid("expected a secret name or {name, secret}")
    return refs


JOB = vol.Schema({
    vol.Required("name"): Name,
    vol.Optional("parent"): Name,
    vol.Optional("playbook"): NonEmptyStr,
    vol.Optional("nodeset", default=[]): _str_list,
    vol.Optional("timeout", default=1800): vol.All(vol.Coerce(float), vol.Range(min=1)),
    vol.Optional("voting", default=True): bool,
    vol.Optional("description", default=""): str,
    vol.Optional("required-projects", default=[]): _str_list,
    vol.Optional("dependencies", default=[]): vol.All(_str_list, [Name]),
    vol.Optional("semaphores", default=[]): vol.All(_str_list, [Name]),
    vol.Optional("vars", default={}): {str: object},
    vol.Optional("secrets", default=[]): _secret_refs,
})

SEMAPHORE = vol.Schema({
    vol.Required("name"): Name,
    vol.Optional("max", default=1): vol.All(int, vol.Range(min=1)),
})


def _encrypted_data(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise vol.Invalid("expected a mapping of fields to !encrypted/pkcs1-oaep values")
    for key, field_value in value.items():
        if not isinstance(field_value, Encrypted):
            raise vol.Invalid(f"field '{key}' must be an !encrypted/pkcs1-oaep value "
                              "(zuul-client encrypt)")
    return value


SECRET = vol.Schema({
    vol.Required("name"): Name,
    vol.Required("project"): NonEmptyStr,
    vol.Required("data"): _encrypted_data,
})

MERGE_MODES = [m.value for m in MergeMode]

PROJECT = vol.Schema({
    vol.Required("name"): NonEmptyStr,
    vol.Optional("connection", default="github"): Name,
    vol.Optional("git_url", default=""): str,
    vol.Optional("queue"): Name,
    vol.Optional("merge-mode", default="merge"): vol.In(
        MERGE_MODES, msg=f"expected one of {', '.join(MERGE_MODES)}"),
    vol.Optional("pipelines", default={}): {str: [Name]},
})

# Jobs, projects, semaphores and secrets are checked one stanza at a time: a bad stanza
# becomes a config error of its tenant (Zuul's config-errors) and the rest loads.
TENANT = vol.Schema({
    vol.Required("name"): Name,
    vol.Optional("config_repo"): NonEmptyStr,
    vol.Optional("pipelines", default=[]): [PIPELINE],
    vol.Optional("semaphores", default=[]): [dict],
    vol.Optional("secrets", default=[]): [dict],
    vol.Optional("jobs", default=[]): [dict],
    vol.Optional("projects", default=[]): [dict],
})

SCHEMA = vol.Schema({
    vol.Optional("config_repo", default="."): NonEmptyStr,
    vol.Required("tenants"): [TENANT],
})

NOOP = Job(name="noop", playbook=None, nodeset=[], timeout=1, voting=True,
           description="Succeeds at once without nodes or a playbook.")


class _Errors:
    """Collects a tenant's stanza errors (``strict``: raise the first instead)."""

    def __init__(self, source: str, strict: bool) -> None:
        self.source = source
        self.strict = strict
        self.entries: list[dict[str, Any]] = []

    def add(self, key: str, message: str, stanza: str, name: str | None) -> None:
        line = f"{self.source}: {key}: {message}"
        if self.strict:
            raise ConfigError(line)
        self.entries.append({"source_context": {"path": self.source, "project": None,
                                                "branch": None},
                             "error": line, "short_error": message, "severity": "error",
                             "name": stanza, "key": key, "stanza_name": name})

    def check(self, raw: Any, schema: vol.Schema, key: str, stanza: str) -> Any | None:
        """``raw`` validated by ``schema``, or None after recording the error."""
        name = raw.get("name") if isinstance(raw, dict) else None
        try:
            return validate(raw, schema, key)
        except ConfigError as exc:
            message = str(exc)
            if message.startswith(key + ": "):
                rest = message[len(key) + 2:]
                inner, _, msg = rest.partition(": ")
                key, message = (f"{key}.{inner}" if not inner.startswith("[") else
                                key + inner), msg
            self.add(key, message, stanza, name if isinstance(name, str) else None)
            return None


def _unique(items: list[dict[str, Any]], where: str, errors: _Errors | None = None,
            stanza: str = "") -> list[dict[str, Any]]:
    seen: set[str] = set()
    kept = []
    for i, item in enumerate(items):
        if item["name"] in seen:
            if errors is None:
                raise ConfigError(f"{where}[{i}].name: duplicate name '{item['name']}'")
            errors.add(f"{where.split(': ', 1)[-1]}[{i}].name",
                       f"duplicate name '{item['name']}'", stanza, item["name"])
            continue
        seen.add(item["name"])
        kept.append(item)
    return kept


def _pipelines(raw: dict[str, Any], where: str,
               connections: list[str]) -> dict[str, PipelineConfig]:
    pipelines: dict[str, PipelineConfig] = {}
    for i, p in enumerate(raw["pipelines"]):
        rules = []
        for conn, triggers in p["trigger"].items():
            if conn not in connections:
                raise ConfigError(f"{where}.pipelines[{i}].trigger.{conn}: unknown connection")
            for t in triggers:
                rules.append(TriggerRule(
                    connection=conn, event=t["event"], actions=t["action"],
                    comment=re.compile(t["comment"]) if "comment" in t else None,
                    state=t["state"], refs=[re.compile(r) for r in t["ref"]]))
        reporters = {o: {name: opts or {"status": True, "comment": True}
                         for name, opts in p[o].items()} for o in OUTCOMES}
        for outcome in ("start", "failure"):
            for name, opts in reporters[outcome].items():
                if opts.get("merge"):
                    raise ConfigError(f"{where}.pipelines[{i}].{outcome}.{name}.merge: "
                                      "only a success reporter merges")
        if p["manager"] != "dependent" and any(
                opts.get("merge") for opts in reporters["success"].values()):
            raise ConfigError(f"{where}.pipelines[{i}].success: merge needs a dependent "
                              "pipeline")
        pipelines[p["name"]] = PipelineConfig(p["name"], p["manager"], p["description"],
                                              rules, reporters, p["window"], p["precedence"])
    return pipelines


def _jobs(raw: dict[str, Any], key: str, repo: Path, errors: _Errors,
          semaphores: dict[str, int], secrets: dict[str, Secret]) -> dict[str, Job]:
    checked: list[tuple[int, dict[str, Any]]] = []
    for i, entry in enumerate(raw["jobs"]):
        j = errors.check(entry, JOB, f"{key}.jobs[{i}]", "job")
        if j is not None:
            checked.append((i, j))
    jobs = {"noop": NOOP}
    names = {j["name"] for _, j in checked} | {"noop"}
    project_names = {p.get("name") for p in raw["projects"] if isinstance(p, dict)}
    for i, j in checked:
        where = f"{key}.jobs[{i}]"
        if j["name"] in jobs:
            errors.add(f"{where}.name", f"duplicate name '{j['name']}'", "job", j["name"])
            continue
        playbook = (repo / j["playbook"]) if j.get("playbook") else None
        problems = []
        if playbook is not None and not playbook.is_file():
            problems.append(("playbook", f"{playbook} not found"))
        if j.get("parent") and j["parent"] not in names:
            problems.append(("parent", f"unknown job '{j['parent']}'"))
        problems += [(f"required-projects[{k}]", f"unknown project '{r}'")
                     for k, r in enumerate(j["required-projects"]) if r not in project_names]
        problems += [(f"dependencies[{k}]", f"unknown job '{d}'")
                     for k, d in enumerate(j["dependencies"]) if d not in names]
        problems += [(f"semaphores[{k}]", f"unknown semaphore '{s}'")
                     for k, s in enumerate(j["semaphores"]) if s not in semaphores]
        problems += [(f"secrets[{k}]", f"unknown secret '{ref['secret']}'")
                     for k, ref in enumerate(j["secrets"]) if ref["secret"] not in secrets]
        if problems:
            sub, message = problems[0]
            errors.add(f"{where}.{sub}", message, "job", j["name"])
            continue
        jobs[j["name"]] = Job(
            j["name"], playbook, j["nodeset"], j["timeout"], j["voting"], j["description"],
            required_projects=j["required-projects"],
            parent=j.get("parent"), dependencies=j["dependencies"],
            semaphores=j["semaphores"], variables=j["vars"],
            secrets=[f"{ref['name']}={ref['secret']}" for ref in j["secrets"]],
            source=f"{errors.source}: {where}")
    _drop_dependency_cycles(jobs, key, errors)
    return jobs


def _drop_dependency_cycles(jobs: dict[str, Job], key: str, errors: _Errors) -> None:
    """Jobs whose dependencies are missing (dropped) or circular become errors."""
    changed = True
    while changed:  # bounded: each pass removes a job or ends
        changed = False
        for job in list(jobs.values()):
            missing = [d for d in job.dependencies if d not in jobs]
            if missing:
                errors.add(f"{key}.jobs.{job.name}.dependencies",
                           f"unknown job '{missing[0]}'", "job", job.name)
                del jobs[job.name]
                changed = True
    cyclic = []
    for job in list(jobs.values()):
        seen: set[str] = set()
        stack = list(job.dependencies)
        while stack:
            dep = stack.pop()
            if dep == job.name:
                errors.add(f"{key}.jobs.{job.name}.dependencies", "dependency cycle",
                           "job", job.name)
                cyclic.append(job.name)
                break
            if dep not in seen and dep in jobs:
                seen.add(dep)
                stack.extend(jobs[dep].dependencies)
    for name in cyclic:
        del jobs[name]
    if cyclic:
        _drop_dependency_cycles(jobs, key, errors)


def _projects(raw: dict[str, Any], key: str, errors: _Errors, connections: list[str],
              pipelines: dict[str, PipelineConfig], jobs: dict[str, Job]) -> dict[str, Project]:
    projects: dict[str, Project] = {}
    for i, entry in enumerate(raw["projects"]):
        where = f"{key}.projects[{i}]"
        pr = errors.check(entry, PROJECT, where, "project")
        if pr is None:
            continue
        if pr["name"] in projects:
            errors.add(f"{where}.name", f"duplicate name '{pr['name']}'", "project",
                       pr["name"])
            continue
        problem = None
        if pr["connection"] not in connections:
            problem = ("connection", f"unknown connection '{pr['connection']}'")
        for pipe, job_names in pr["pipelines"].items():
            if problem:
                break
            if pipe not in pipelines:
                problem = (f"pipelines.{pipe}", "unknown pipeline")
            for k, job in enumerate(job_names):
                if problem is None and job not in jobs:
                    problem = (f"pipelines.{pipe}[{k}]", f"unknown job '{job}'")
            for k, job in enumerate(job_names):
                deps = jobs[job].dependencies if job in jobs else []
                absent = [d for d in deps if d not in job_names]
                if problem is None and absent:
                    problem = (f"pipelines.{pipe}[{k}]", f"job '{job}' depends on "
                               f"'{absent[0]}', which does not run in {pipe}")
        if problem:
            errors.add(f"{where}.{problem[0]}", problem[1], "project", pr["name"])
            continue
        projects[pr["name"]] = Project(pr["name"], pr["connection"], pr["git_url"],
                                       pr["pipelines"], pr.get("queue"), pr["merge-mode"])
    return projects


def _tenant(raw: dict[str, Any], index: int, source: str, default_repo: Path,
            connections: list[str], strict: bool) -> Tenant:
    where = f"{source}: tenants[{index}]"
    key = f"tenants[{index}]"
    errors = _Errors(source, strict)
    repo = default_repo
    if "config_repo" in raw:
        repo = (default_repo / raw["config_repo"]).resolve()
    _unique(raw["pipelines"], f"{where}.pipelines")
    pipelines = _pipelines(raw, where, connections)
    semaphores: dict[str, int] = {}
    for i, entry in enumerate(raw["semaphores"]):
        sem = errors.check(entry, SEMAPHORE, f"{key}.semaphores[{i}]", "semaphore")
        if sem is not None:
            semaphores[sem["name"]] = sem["max"]
    secrets: dict[str, Secret] = {}
    for i, entry in enumerate(raw["secrets"]):
        sec = errors.check(entry, SECRET, f"{key}.secrets[{i}]", "secret")
        if sec is not None:
            secrets[sec["name"]] = Secret(sec["name"], sec["project"], sec["data"])
    jobs = _jobs(raw, key, repo, errors, semaphores, secrets)
    projects = _projects(raw, key, errors, connections, pipelines, jobs)
    return Tenant(raw["name"], projects, pipelines, jobs, repo, semaphores=semaphores,
                  secrets=secrets, errors=errors.entries)


def load(path: str | Path | None, connections: list[str],
         strict: bool = True) -> dict[str, Tenant]:
    """Load the tenant config at ``path`` (None means no tenants).

    Structural problems (the file, tenants, pipelines) always raise :class:`ConfigError`.
    A bad job, project, semaphore or secret stanza raises too when ``strict``; otherwise it
    is left out and recorded in its tenant's ``errors`` (the scheduler's mode, as Zuul).
    """
    if path is None:
        return {}
    source = str(path)
    raw = load_config(path, SCHEMA, SecretLoader)
    _unique(raw["tenants"], f"{source}: tenants")
    repo = (Path(path).resolve().parent / raw["config_repo"]).resolve()
    return {t["name"]: _tenant(t, i, source, repo, connections, strict)
            for i, t in enumerate(raw["tenants"])}
