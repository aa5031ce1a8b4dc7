"""The deployed system for tests/deploy: one sandboxed playbook run per module."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.sandbox import PlaybookRun, Sandbox


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return ("the deploy test installs Debian packages, a service user and services: "
                "it runs as root (CI does); skipped for a non-root developer")
    missing = [tool for tool in ("apt-get", "git") if shutil.which(tool) is None]
    if missing:
        return f"not a Debian machine with {', '.join(missing)}"
    return None


@pytest.fixture(scope="module")
def sandbox(output_dir: Path) -> Iterator[Sandbox]:
    """A sandboxed deploy_root with its own ports, torn down (every service stopped) after."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    box = Sandbox.create(output_dir / "deploy")
    try:
        yield box
    finally:
        box.teardown()


@pytest.fixture(scope="module")
def first_run(sandbox: Sandbox) -> PlaybookRun:
    """The first (fresh) run of the playbook into the sandbox; it must succeed."""
    run = sandbox.run()
    assert run.returncode == 0, run.tail()
    return run
