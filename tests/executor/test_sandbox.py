"""A job on a local node runs in bubblewrap as ``zuul-job`` and can reach none of our secrets.

The job playbook tries to read a TLS key, the scheduler config and a state file, and to open
TCP connections to a real geard and the session's real ZooKeeper. In the sandbox every attempt
fails; the same playbook without the sandbox succeeds at each (so the probes can tell).
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.harness.servers import ZooKeeperServer
from tests.harness.stack import Stack
from zuul.executor import BuildRequest, Executor
from zuul.executor.sandbox import BWRAP, DEFAULT_USER, JobSandbox
from zuul.scheduler import config as scheduler_config

PROBE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Probe what a job can reach
      ansible.builtin.shell: |
        echo "PROBE user $(id -un)"
        for f in {key} {config} {state}; do
          if cat "$f" > /dev/null 2>&1; then echo "PROBE read $f"; else echo "PROBE denied $f"; fi
        done
        for port in {ports}; do
          if timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
            echo "PROBE connected $port"
          else
            echo "PROBE refused $port"
          fi
        done
      args:
        executable: /bin/bash
      changed_when: false
"""


@pytest.fixture(scope="session")
def job_user() -> str:
    """The unprivileged job user: created when the tests run as root, else it must exist."""
    if shutil.which(BWRAP) is None:
        pytest.skip("bubblewrap is not installed (run-tests installs it)")
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        if os.geteuid() != 0:
            pytest.skip(f"no {DEFAULT_USER} user and not root to create it")
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", DEFAULT_USER], check=True)
    return DEFAULT_USER


def _deployment(workdir: Path, gear_port: int, zookeeper: ZooKeeperServer) -> dict[str, Path]:
    """A scheduler config, TLS files and state like a deployed host has, all readable."""
    pki, etc, state = workdir / "pki", workdir / "etc", workdir / "state"
    for directory in (pki, etc, state):
        directory.mkdir(mode=0o755)
    for name in ("client-key.pem", "client.pem", "ca.pem"):
        (pki / name).write_text(f"-----BEGIN {name}-----\n")
    (pki / "client-key.pem").chmod(0o644)  # readable to anyone outside the sandbox
    secret = state / "deliveries.db"
    secret.write_text("state\n")
    config = etc / "scheduler.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(state),
        "gearman": {"servers": [f"127.0.0.1:{gear_port}"], "ssl_key": str(pki / "client-key.pem"),
                    "ssl_cert": str(pki / "client.pem"), "ssl_ca": str(pki / "ca.pem")},
        "zookeeper": {"hosts": [zookeeper.hosts]},
        "executor": {"sandbox": {"user": DEFAULT_USER, "hide": ["/root"]}},
    }))
    config.chmod(0o644)
    playbooks = workdir / "playbooks"
    playbooks.mkdir(mode=0o755)
    (playbooks / "probe.yaml").write_text(PROBE.format(
        key=pki / "client-key.pem", config=config, state=secret,
        ports=f"{gear_port} {zookeeper.port}"))
    return {"config": config, "playbook": playbooks / "probe.yaml", "key": pki / "client-key.pem",
            "state": secret}


def _request(playbook: Path) -> BuildRequest:
    return BuildRequest(uuid=uuid.uuid4().hex, job="probe", playbook=playbook,
                        nodes=[{"name": "node", "host": "localhost", "connection": "local"}],
                        zuul_vars={}, timeout=120)


async def _probe(executor: Executor, playbook: Path) -> list[str]:
    result = await executor.run(_request(playbook))
    console = (result.log_path / "console.log").read_text()
    assert result.result == "SUCCESS", console
    return [line.split("PROBE ", 1)[1] for line in console.splitlines()
            if "PROBE " in line and "echo" not in line]


@pytest.mark.slow
async def test_local_job_cannot_read_secrets_nor_reach_the_buses(
        stack: Stack, zookeeper: ZooKeeperServer, job_user: str) -> None:
    geard = stack.gearman()
    files = _deployment(stack.workdir, geard.port, zookeeper)
    conf = scheduler_config.load(files["config"])
    sandbox = JobSandbox.from_conf(conf["executor"]["sandbox"])
    assert sandbox is not None
    hidden = set(sandbox.hide)
    assert {str(files["config"].parent), str(files["key"].parent),
            str(files["state"].parent)} <= hidden
    logs = stack.workdir / "logs"
    work = Path(conf["executor"]["work_root"])

    sandboxed = await _probe(Executor(logs, work, sandbox=sandbox), files["playbook"])
    assert f"user {job_user}" in sandboxed
    for name in ("key", "config", "state"):
        assert f"denied {files[name]}" in sandboxed, sandboxed
    assert f"refused {geard.port}" in sandboxed and f"refused {zookeeper.port}" in sandboxed
    assert not [line for line in sandboxed if line.startswith(("read ", "connected "))]

    # The same job without the sandbox reaches all of it: the probes do detect access.
    open_job = await _probe(Executor(logs, work), files["playbook"])
    for name in ("key", "config", "state"):
        assert f"read {files[name]}" in open_job, open_job
    assert f"connected {geard.port}" in open_job and f"connected {zookeeper.port}" in open_job
