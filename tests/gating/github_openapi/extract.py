"""Extract the GitHub REST operations our code calls from GitHub's published description.

The recorded procedure that produced ``operations.json`` beside this file::

    cd /tmp && npm pack @octokit/openapi@23.0.2 && tar xzf octokit-openapi-23.0.2.tgz
    python tests/gating/github_openapi/extract.py \\
        /tmp/package/generated/api.github.com.deref.json \\
        > tests/gating/github_openapi/operations.json

``api.github.com.deref.json`` is GitHub's OpenAPI 3.0 description with every ``$ref`` inlined,
so each operation's request body schema stands alone. Only method, path template, operation
id and the ``application/json`` request body schema of the operations in :data:`OPERATIONS`
are kept (examples dropped); the GitHub stand-in (``tests/scheduler/github_api.py``) answers
exactly these and checks every request body against its schema.
"""
from __future__ import annotations

import json
import sys
from typing import Any

OPERATIONS = [
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}"),
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
]


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("examples", "example")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def extract(document: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``document`` (a dereferenced OpenAPI description) we keep."""
    operations = []
    for method, path in OPERATIONS:
        operation = document["paths"][path][method]
        body = operation.get("requestBody")
        schema = None
        if body is not None:
            schema = _strip(body["content"]["application/json"]["schema"])
        operations.append({"method": method.upper(), "path": path,
                           "operationId": operation["operationId"],
                           "requestBodyRequired": bool(body and body.get("required")),
                           "requestBodySchema": schema})
    return {"source": f"@octokit/openapi {document['info']['version']} api.github.com",
            "openapi": document["openapi"], "operations": operations}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        document = json.load(handle)
    json.dump(extract(document), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
