"""``zuul builds``: the build history, newest first, with filters."""
from __future__ import annotations

import argparse
from typing import Any

from zuul.cli._client import call, common_arguments, run_command, table


def _fetch(args: argparse.Namespace) -> Any:
    return call(args, "GET", f"tenant/{args.tenant}/builds", query={
        "project": args.project, "pipeline": args.pipeline, "job_name": args.job,
        "change": args.change, "result": args.result, "limit": args.limit, "skip": args.skip})


def _render(builds: Any) -> str:
    if not builds:
        return "No builds."
    rows = [[b["uuid"][:12], b["job_name"], b["project"], b["pipeline"],
             b["change"] if b["change"] is not None else b["ref"], b["result"],
             f"{b['duration']:.1f}s" if b["duration"] is not None else "", b["end_time"]]
            for b in builds]
    return table(rows, ["UUID", "JOB", "PROJECT", "PIPELINE", "CHANGE", "RESULT",
                        "DURATION", "END"])


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``builds`` subcommand."""
    parser = subparsers.add_parser("builds", help="list builds from the build history")
    common_arguments(parser)
    parser.add_argument("--project")
    parser.add_argument("--pipeline")
    parser.add_argument("--job")
    parser.add_argument("--change")
    parser.add_argument("--result")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--skip", type=int, default=0)
    parser.set_defaults(func=run_command(_fetch, _render))
