"""Bad configuration: one line naming file and key, exit code 2, no traceback."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.harness.servers import console_script


def _run(script: str, config: Path) -> subprocess.CompletedProcess[str]:
    extra = [] if script == "zuul-apache-vhost" else ["--foreground"]
    return subprocess.run([console_script(script), "-c", str(config), *extra],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("script,text,expected", [
    ("zuul-scheduler", "api:\n  port: eighty\ngearman_server: {}\n", "api.port"),
    ("zuul-scheduler", "bogus: 1\ngearman_server: {}\n", "bogus"),
    ("zuul-scheduler", "api: {}\n", "gearman"),
    ("zuul-scheduler", "api: [1, 2\n", "invalid YAML"),
    ("nodepool-launcher", "zookeeper:\n  hosts: [nohostport]\n", "zookeeper.hosts[0]"),
    ("nodepool-launcher", "api: {}\n", "zookeeper"),
    ("zuul-apache-vhost", "zuul: {scheduler: 127.0.0.1:1}\nport: -1\n", "port"),
])
def test_bad_config_is_one_line_exit_2(tmp_path: Path, script: str, text: str,
                                       expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = _run(script, config)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {config}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("script", ["zuul-scheduler", "nodepool-launcher", "zuul-apache-vhost"])
def test_missing_config_file(tmp_path: Path, script: str) -> None:
    missing = tmp_path / "nope.yaml"
    result = _run(script, missing)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: file not found"
