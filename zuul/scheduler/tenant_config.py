"""The tenant config: tenants, projects, pipelines, triggers, reporters and jobs (one YAML file).

See ``doc/scheduler.rst`` for the format. Every problem is a one-line :class:`ConfigError`
naming the file and the key (``tenants[0].pipelines[1].trigger.github[0].event: ...``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import voluptuous as vol

from zuul.lib.config import ConfigError, NonEmptyStr, load_config
from zuul.merger.model import MergeMode
from zuul.scheduler.model import Job, PipelineConfig, Project, Tenant, TriggerRule

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

PIPELINE = vol.Schema({
    vol.Required("name"): Name,
    vol.Required("manager"): vol.In(["independent", "dependent"],
                                    msg="expected independent or dependent"),
    vol.Optional("description", default=""): str,
    vol.Optional("precedence", default="normal"): vol.In(["low", "normal", "high"]),
    vol.Optional("window", default=20): vol.All(int, vol.Range(min=1)),
    vol.Optional("trigger", default={}): {str: [TRIGGER]},
    **{vol.Optional(outcome, default={}): {str: vol.Any(None, REPORTER_OPTIONS)}
       for outcome in OUTCOMES},
})

JOB = vol.Schema({
    vol.Required("name"): Name,
    vol.Optional("playbook"): NonEmptyStr,
    vol.Optional("nodeset", default=[]): _str_list,
    vol.Optional("timeout", default=1800): vol.All(vol.Coerce(float), vol.Range(min=1)),
    vol.Optional("voting", default=True): bool,
    vol.Optional("description", default=""): str,
    vol.Optional("required-projects", default=[]): _str_list,
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

TENANT = vol.Schema({
    vol.Required("name"): Name,
    vol.Optional("config_repo"): NonEmptyStr,
    vol.Optional("pipelines", default=[]): [PIPELINE],
    vol.Optional("jobs", default=[]): [JOB],
    vol.Optional("projects", default=[]): [PROJECT],
})

SCHEMA = vol.Schema({
    vol.Optional("config_repo", default="."): NonEmptyStr,
    vol.Required("tenants"): [TENANT],
})

NOOP = Job(name="noop", playbook=None, nodeset=[], timeout=1, voting=True,
           description="Succeeds at once without nodes or a playbook.")


def _unique(items: list[dict[str, Any]], where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item["name"] in seen:
            raise ConfigError(f"{where}[{i}].name: duplicate name '{item['name']}'")
        seen.add(item["name"])


def _tenant(raw: dict[str, Any], index: int, source: str, default_repo: Path,
            connections: list[str]) -> Tenant:
    where = f"{source}: tenants[{index}]"
    repo = default_repo
    if "config_repo" in raw:
        repo = (default_repo / raw["config_repo"]).resolve()
    for key in ("pipelines", "jobs", "projects"):
        _unique(raw[key], f"{where}.{key}")
    jobs = {"noop": NOOP}
    for i, j in enumerate(raw["jobs"]):
        playbook = (repo / j["playbook"]) if j.get("playbook") else None
        if playbook is not None and not playbook.is_file():
            raise ConfigError(f"{where}.jobs[{i}].playbook: {playbook} not found")
        jobs[j["name"]] = Job(j["name"], playbook, j["nodeset"], j["timeout"], j["voting"],
                              j["description"], j["required-projects"])
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
    projects: dict[str, Project] = {}
    for i, pr in enumerate(raw["projects"]):
        if pr["connection"] not in connections:
            raise ConfigError(f"{where}.projects[{i}].connection: unknown connection "
                              f"'{pr['connection']}'")
        for pipe, job_names in pr["pipelines"].items():
            if pipe not in pipelines:
                raise ConfigError(f"{where}.projects[{i}].pipelines.{pipe}: unknown pipeline")
            for k, job in enumerate(job_names):
                if job not in jobs:
                    raise ConfigError(f"{where}.projects[{i}].pipelines.{pipe}[{k}]: "
                                      f"unknown job '{job}'")
        projects[pr["name"]] = Project(pr["name"], pr["connection"], pr["git_url"],
                                       pr["pipelines"], pr.get("queue"), pr["merge-mode"])
    for i, j in enumerate(raw["jobs"]):
        for k, required in enumerate(j["required-projects"]):
            if required not in projects:
                raise ConfigError(f"{where}.jobs[{i}].required-projects[{k}]: unknown "
                                  f"project '{required}'")
    return Tenant(raw["name"], projects, pipelines, jobs, repo)


def load(path: str | Path | None, connections: list[str]) -> dict[str, Tenant]:
    """Load the tenant config at ``path`` (None means no tenants)."""
    if path is None:
        return {}
    source = str(path)
    raw = load_config(path, SCHEMA)
    _unique(raw["tenants"], f"{source}: tenants")
    repo = (Path(path).resolve().parent / raw["config_repo"]).resolve()
    return {t["name"]: _tenant(t, i, source, repo, connections)
            for i, t in enumerate(raw["tenants"])}
