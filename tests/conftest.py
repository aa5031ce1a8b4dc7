"""Fixtures that start real services: ZooKeeper (once per session), gearman, Apache, ours.

Every process is a child of the test process, on a free loopback port, stopped by PID at
teardown. Work dirs are world-readable so Apache's www-data children can serve files from them.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.pki import TestCA
from tests.harness.process import ProcessGroup
from tests.harness.servers import ZooKeeperServer
from tests.harness.stack import Stack
from tests.scheduler.github_api import GitHubAPI

REPO = Path(__file__).resolve().parent.parent


def _readable_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests leave artefacts people look at (screenshots, logs): test-output/."""
    return _readable_dir(Path(os.environ.get("ZUUL_TEST_OUTPUT", REPO / "test-output")))


@pytest.fixture(scope="session")
def session_tmp() -> Iterator[Path]:
    """A world-readable temp dir for the whole session, removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="zuul-tests-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workdir(session_tmp: Path, request: pytest.FixtureRequest) -> Path:
    """A world-readable work dir for one test."""
    name = request.node.name[:60].replace("/", "_").replace("[", "-").replace("]", "")
    return _readable_dir(session_tmp / f"{name}-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="session")
def pki(session_tmp: Path) -> TestCA:
    """The session's test CA: issues the TLS certificates of servers and clients."""
    return TestCA(_readable_dir(session_tmp / "pki"))


@pytest.fixture(scope="session")
def zookeeper(session_tmp: Path, pki: TestCA) -> Iterator[ZooKeeperServer]:
    """One real TLS-only ZooKeeper for the session; tests isolate themselves with ``zk_chroot``."""
    server = ZooKeeperServer(_readable_dir(session_tmp / "zookeeper"), ca=pki)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def zk_chroot(zookeeper: ZooKeeperServer) -> Iterator[str]:
    """A fresh ZooKeeper chroot path for one test, created before and removed after."""
    chroot = f"/test-{uuid.uuid4().hex[:10]}"
    zookeeper.create_chroot(chroot)
    yield chroot
    if zookeeper.running():
        zookeeper.remove_chroot(chroot)


@pytest.fixture
def procs() -> Iterator[ProcessGroup]:
    """Processes started by one test, stopped in reverse order at teardown."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def stack(workdir: Path, procs: ProcessGroup, pki: TestCA) -> Stack:
    """Start real services for a test that needs no ZooKeeper (gearman TLS from ``pki``)."""
    return Stack(workdir, procs, ca=pki)


@pytest.fixture
def zk_stack(zookeeper: ZooKeeperServer, zk_chroot: str, workdir: Path,
             procs: ProcessGroup) -> Stack:
    """Start real services for a test that uses ZooKeeper (its own chroot).

    ``zk_chroot`` is set up before ``procs`` so teardown stops the processes first and
    only then deletes the chroot (a running launcher would write into it meanwhile).
    """
    return Stack(workdir, procs, zookeeper, zk_chroot)


@pytest.fixture
def github_api() -> Iterator[GitHubAPI]:
    """The GitHub REST stand-in (checked against GitHub's published OpenAPI description):
    any call GitHub would not take fails the test."""
    api = GitHubAPI().start()
    yield api
    api.stop()
    assert not api.violations, f"calls GitHub would not take: {api.violations}"
