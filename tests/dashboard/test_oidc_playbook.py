"""OpenID Connect in the deployment kit, checked without a deployment: ansible-playbook renders
the playbook's own templates (the scheduler's config and Apache's deployment description)
with the OIDC variables of playbooks/group_vars/all.yaml, then the scheduler's loader accepts
the config, the realm it publishes is the one the dashboard signs in with, and ``apache2 -t``
accepts the generated vhost whose dashboard CSP lets the browser reach the issuer.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from zuul import apache
from zuul.lib.auth import Authenticator
from zuul.scheduler import config as scheduler_config

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ISSUER = "https://id.example.org/realms/zuul"
# Renders two templates on localhost with the playbook's variables (its group_vars are found
# beside this playbook: a symlink) and the roles' defaults.
RENDER = """
- hosts: localhost
  gather_facts: false
  vars_files:
    - {playbooks}/roles/zuul/defaults/main.yaml
    - {playbooks}/roles/gearman/defaults/main.yaml
    - {playbooks}/roles/apache/defaults/main.yaml
  tasks:
    - ansible.builtin.template:
        src: {playbooks}/roles/zuul/templates/scheduler.yaml.j2
        dest: {out}/scheduler.yaml
        mode: "0600"
    - ansible.builtin.template:
        src: {playbooks}/roles/apache/templates/deployment.yaml.j2
        dest: {out}/deployment.yaml
        mode: "0600"
"""


def render(tmp_path: Path, extra: dict[str, Any]) -> tuple[Path, Path]:
    """Run the render playbook with ``extra`` variables; the two rendered files."""
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "group_vars").symlink_to(PLAYBOOKS / "group_vars")
    playbook = tmp_path / "render.yaml"
    playbook.write_text(RENDER.format(playbooks=PLAYBOOKS, out=out))
    root = tmp_path / "root"
    pki = root / "etc" / "zuul" / "pki"  # the files the config names must exist (not used)
    pki.mkdir(parents=True)
    for name in ("ca.pem", "zuul-scheduler.pem", "zuul-scheduler-key.pem"):
        (pki / name).write_text("placeholder\n")
    extra = {"deploy_root": str(root), "zuul_admin_secret": "s" * 32,
             "pki_identity": "zuul-scheduler", "dashboard_root": "/opt/zuul/web",
             "ansible_python_interpreter": sys.executable, **extra}
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"),
         "-i", str(PLAYBOOKS / "inventory" / "localhost.ini"), str(playbook),
         "-e", f"@{tmp_path / 'extra.json'}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_NOCOLOR": "1",
             "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "LANG": "C.UTF-8"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "scheduler.yaml", out / "deployment.yaml"


def apache_check(deployment: dict[str, Any], directory: Path) -> str:
    """Write the standalone config for ``deployment``; assert ``apache2 -t``; the vhost."""
    conf = apache.write_standalone(deployment, directory, port=18080)
    (directory / "htdocs").mkdir()
    result = subprocess.run([shutil.which("apache2") or "/usr/sbin/apache2", "-t", "-f",
                             str(conf)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Syntax OK" in result.stderr, result.stderr
    return (directory / "vhost.conf").read_text()


@pytest.mark.slow
def test_playbook_templates_configure_openid_connect(tmp_path: Path) -> None:
    key = tmp_path / "provider.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nunused\n-----END PUBLIC KEY-----\n")
    scheduler_file, deployment_file = render(tmp_path, {
        "zuul_oidc_enabled": True, "zuul_oidc_issuer": ISSUER,
        "zuul_oidc_client_id": "zuul-dashboard", "zuul_oidc_scope": "openid profile email",
        "zuul_oidc_public_key_file": str(key)})

    conf = scheduler_config.load(scheduler_file)
    assert conf["auth"]["driver"] == "OpenIDConnect"
    realm = Authenticator(conf["auth"]).info()
    assert realm == {"default_realm": "zuul", "realms": {"zuul": {
        "authority": ISSUER, "client_id": "zuul-dashboard", "type": "JWT",
        "algorithm": "RS256", "driver": "OpenIDConnect", "scope": "openid profile email",
        "load_user_info": False}}}

    deployment = apache.load_deployment(deployment_file)
    assert yaml.safe_load(deployment_file.read_text())["security"]["oidc_issuers"] == [ISSUER]
    csp = deployment["security"]["dashboard_csp"]
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    assert connect.split() == ["connect-src", "'self'", "https://id.example.org"]
    vhost = apache_check(deployment, tmp_path / "httpd")
    assert f'Content-Security-Policy "{csp}"' in vhost


@pytest.mark.slow
def test_playbook_defaults_keep_openid_connect_off(tmp_path: Path) -> None:
    scheduler_file, deployment_file = render(tmp_path, {})
    conf = scheduler_config.load(scheduler_file)
    assert conf["auth"]["algorithm"] == "HS256" and conf["auth"]["driver"] == "JWT"
    deployment = apache.load_deployment(deployment_file)
    assert deployment["security"]["oidc_issuers"] == []
    assert deployment["security"]["dashboard_csp"] == apache.DASHBOARD_CSP
    apache_check(deployment, tmp_path / "httpd")
