"""Tenant config errors: one line naming the file and the key; zuul-scheduler exits 2."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness.servers import console_script
from tests.scheduler.conftest import FIXTURES, edit_tenant, tenant_file
from zuul.lib.config import ConfigError
from zuul.scheduler import tenant_config

CASES = [
    (lambda d: d["tenants"][0]["pipelines"][0].update(manager="x"),
     "tenants[0].pipelines[0].manager: expected independent or dependent"),
    (lambda d: d["tenants"][0]["projects"][0]["pipelines"].update(check=["nope"]),
     "tenants[0].projects[0].pipelines.check[0]: unknown job 'nope'"),
    (lambda d: d["tenants"][0]["pipelines"][0]["trigger"]["github"][0].update(event="x"),
     "tenants[0].pipelines[0].trigger.github[0].event: expected one of"),
    (lambda d: d["tenants"][0]["jobs"][0].update(playbook="missing.yaml"),
     "tenants[0].jobs[0].playbook: "),
    (lambda d: d["tenants"][0].update(color="blue"),
     "tenants[0].color: extra keys not allowed"),
    (lambda d: d["tenants"][0]["pipelines"][0]["trigger"]["github"][1].update(comment="("),
     "tenants[0].pipelines[0].trigger.github[1].comment: invalid regular expression"),
    (lambda d: d["tenants"][0]["projects"][0].update(connection="gerrit"),
     "tenants[0].projects[0].connection: unknown connection 'gerrit'"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_errors_name_file_and_key(tmp_path: Path, change, message: str) -> None:
    path = tenant_file(tmp_path)
    edit_tenant(path, change)
    with pytest.raises(ConfigError) as exc:
        tenant_config.load(path, ["github"])
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_example_loads() -> None:
    tenants = tenant_config.load(FIXTURES / "tenant.yaml", ["github"])
    example = tenants["example"]
    assert example.pipelines["gate"].dependent and example.jobs["lint"].voting is False
    assert example.projects["org/project"].pipelines["check"] == ["unit", "lint"]


def test_bad_stanzas_become_config_errors(tmp_path: Path) -> None:
    """As in Zuul: each bad job/project stanza is an error entry; the rest loads."""
    path = tenant_file(tmp_path)

    def breakage(data: dict) -> None:
        tenant = data["tenants"][0]
        tenant["projects"][0]["pipelines"]["check"] = ["nope"]
        tenant["projects"][1]["pipelines"]["gate"] = ["missing"]
        tenant["jobs"].append({"name": "cyclic-a", "dependencies": ["cyclic-b"]})
        tenant["jobs"].append({"name": "cyclic-b", "dependencies": ["cyclic-a"]})
        tenant["jobs"].append({"name": "bad-sem", "semaphores": ["unknown"]})
        tenant["jobs"].append({"name": "bad-type", "voting": "maybe"})

    edit_tenant(path, breakage)
    example = tenant_config.load(path, ["github"], strict=False)["example"]
    errors = [e["error"] for e in example.errors]
    assert len(errors) == 6, errors
    assert all(e.startswith(f"{path}: tenants[0].") and "\n" not in e for e in errors)
    assert any("projects[0].pipelines.check[0]: unknown job 'nope'" in e for e in errors)
    assert any("projects[1].pipelines.gate[0]: unknown job 'missing'" in e for e in errors)
    assert any("dependency cycle" in e for e in errors)
    assert any("unknown semaphore 'unknown'" in e for e in errors)
    assert any("jobs[9].voting" in e for e in errors), errors
    assert "org/project" not in example.projects and "org/slow" in example.projects
    assert "cyclic-a" not in example.jobs and "unit" in example.jobs


def test_scheduler_exits_2_on_bad_tenant_config(tmp_path: Path) -> None:
    path = tenant_file(tmp_path)
    edit_tenant(path, CASES[0][0])
    conf = tmp_path / "scheduler.yaml"
    conf.write_text(yaml.safe_dump({"gearman": {"servers": ["127.0.0.1:1"]},
                                    "state_dir": str(tmp_path / "state"),
                                    "tenant_config": str(path)}))
    done = subprocess.run([console_script("zuul-scheduler"), "-c", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path}: {CASES[0][1]}"
