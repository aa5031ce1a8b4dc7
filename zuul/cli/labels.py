"""``zuul labels``: the node labels a job's nodeset may use."""
from __future__ import annotations

import argparse
from typing import Any

from zuul.cli._client import call, common_arguments, run_command, table


def _fetch(args: argparse.Namespace) -> Any:
    return call(args, "GET", f"tenant/{args.tenant}/labels")


def _render(labels: Any) -> str:
    if not labels:
        return "No labels."
    return table([[label["name"], label.get("ready", ""), label.get("in_use", ""),
                   label.get("total", "")] for label in labels],
                 ["LABEL", "READY", "IN USE", "TOTAL"])


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``labels`` subcommand."""
    parser = subparsers.add_parser("labels", help="list the node labels available to jobs")
    common_arguments(parser)
    parser.set_defaults(func=run_command(_fetch, _render))
