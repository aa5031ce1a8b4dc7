"""``zuul status``: the items queued in each pipeline of a tenant."""
from __future__ import annotations

import argparse
from typing import Any

from zuul.cli._client import call, common_arguments, run_command, table


def _fetch(args: argparse.Namespace) -> Any:
    return call(args, "GET", f"tenant/{args.tenant}/status")


def _render(doc: Any) -> str:
    rows = []
    for pipeline in doc["pipelines"]:
        for queue in pipeline["change_queues"]:
            for head in queue["heads"]:
                for item in head:
                    jobs = item["jobs"]
                    done = sum(1 for j in jobs if j["result"])
                    failing = "failing" if item["failing_reasons"] else ""
                    rows.append([pipeline["name"], item["project"], item["refs"][0]["id"][:20],
                                 f"{done}/{len(jobs)}", failing])
    if not rows:
        return "No items queued."
    return table(rows, ["PIPELINE", "PROJECT", "CHANGE", "JOBS DONE", "STATE"])


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``status`` subcommand."""
    parser = subparsers.add_parser("status", help="show the queued items of a tenant")
    common_arguments(parser)
    parser.set_defaults(func=run_command(_fetch, _render))
