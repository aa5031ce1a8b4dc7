"""Gating config: Zuul's ``merge-mode``, ``required-projects`` and reporter ``merge``/``check``
are accepted where they make sense and refused elsewhere, with one line naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.scheduler.conftest import edit_tenant, tenant_file
from zuul.lib.config import ConfigError
from zuul.scheduler import config as scheduler_config
from zuul.scheduler import tenant_config

GATE = 1  # index of the dependent pipeline in the fixture


def test_gating_options_load(tmp_path: Path) -> None:
    path = tenant_file(tmp_path)

    def change(data: dict) -> None:
        tenant = data["tenants"][0]
        tenant["pipelines"][GATE]["success"] = {"github": {"merge": True, "check": True}}
        tenant["projects"][0]["merge-mode"] = "squash-merge"
        tenant["jobs"][0]["required-projects"] = ["org/slow"]

    edit_tenant(path, change)
    tenant = tenant_config.load(path, ["github"])["example"]
    assert tenant.pipelines["gate"].reporters["success"]["github"] == {
        "status": True, "comment": True, "check": True, "merge": True}
    assert tenant.projects["org/project"].merge_mode == "squash-merge"
    assert tenant.projects["org/broken"].merge_mode == "merge"
    assert tenant.jobs["unit"].required_projects == ["org/slow"]


CASES = [
    (lambda d: d["tenants"][0]["projects"][0].update({"merge-mode": "octopus"}),
     "tenants[0].projects[0].merge-mode: expected one of merge, squash-merge, rebase, "
     "cherry-pick"),
    (lambda d: d["tenants"][0]["jobs"][0].update({"required-projects": ["org/nope"]}),
     "tenants[0].jobs[0].required-projects[0]: unknown project 'org/nope'"),
    (lambda d: d["tenants"][0]["pipelines"][0].update(success={"github": {"merge": True}}),
     "tenants[0].pipelines[0].success: merge needs a dependent pipeline"),
    (lambda d: d["tenants"][0]["pipelines"][GATE].update(failure={"github": {"merge": True}}),
     "tenants[0].pipelines[1].failure.github.merge: only a success reporter merges"),
    (lambda d: d["tenants"][0]["pipelines"][GATE].update(success={"github": {"merge": 1}}),
     "tenants[0].pipelines[1].success.github.merge: expected bool"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_errors_name_file_and_key(tmp_path: Path, change, message: str) -> None:
    path = tenant_file(tmp_path)
    edit_tenant(path, change)
    with pytest.raises(ConfigError) as exc:
        tenant_config.load(path, ["github"])
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value), exc.value
    assert "\n" not in str(exc.value)


def test_github_app_needs_its_key(tmp_path: Path) -> None:
    conf = tmp_path / "scheduler.yaml"
    base = {"gearman": {"servers": ["127.0.0.1:1"]}, "state_dir": str(tmp_path / "state")}
    conf.write_text(yaml.safe_dump({**base, "connections": {"github": {"app_id": 7}}}))
    with pytest.raises(ConfigError, match="connections.github: app_id and app_key go"):
        scheduler_config.load(conf)
    conf.write_text(yaml.safe_dump({**base, "connections": {"github": {
        "app_id": 7, "app_key": str(tmp_path / "missing.pem")}}}))
    with pytest.raises(ConfigError, match="connections.github.app_key: .* not found"):
        scheduler_config.load(conf)
