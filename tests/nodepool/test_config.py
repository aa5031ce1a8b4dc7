"""nodepool.yaml mistakes: one line naming the file and the key, exit status 2."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.harness.servers import console_script, write_yaml

ZK = {"hosts": ["127.0.0.1:2181", "127.0.0.2:2181"]}
LOCAL = {"name": "localhost", "driver": "local",
         "pools": [{"name": "main", "labels": ["small"]}]}


@pytest.mark.parametrize("config, mention", [
    ({"zookeeper": ZK, "labelz": []}, "labelz: extra keys not allowed"),
    ({"zookeeper": {"hosts": ["no-port"]}}, "zookeeper.hosts"),
    ({"zookeeper": ZK, "labels": [{"name": "small"}],
      "providers": [{**LOCAL, "driver": "cloud"}]},
     "providers[0].driver: expected local or static"),
    ({"zookeeper": ZK, "labels": [], "providers": [LOCAL]},
     "providers[0].pools[0]: label 'small' is not declared"),
    ({"zookeeper": ZK, "labels": [{"name": "s"}], "providers": [{
        "name": "st", "driver": "static", "pools": [{"name": "p", "nodes": [
            {"name": "h", "labels": ["s"], "connection-type": "telnet"}]}]}]},
     "connection-type: expected ssh or local"),
    ({"zookeeper": ZK, "labels": [{"name": "small", "min-ready": -1}]}, "min-ready"),
])
def test_config_errors_are_one_line(workdir: Path, config: dict, mention: str) -> None:
    path = write_yaml(workdir / "nodepool.yaml", config)
    result = subprocess.run([console_script("nodepool-launcher"), "-c", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {path}: ")
    assert mention in result.stderr
