"""Fixtures for executor tests: an Executor on this test's work dir and a local node."""
from __future__ import annotations

from pathlib import Path

import pytest

from zuul.executor import Executor


@pytest.fixture
def log_root(workdir: Path) -> Path:
    path = workdir / "logs"
    path.mkdir(mode=0o755)
    return path


@pytest.fixture
def executor(workdir: Path, log_root: Path) -> Executor:
    return Executor(log_root=log_root, work_root=workdir / "work", max_concurrent=4)
