"""Running a command-line client whose subcommands set ``func`` on their parsers."""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn


def run_subcommand(parser: argparse.ArgumentParser, argv: list[str] | None,
                   handled: tuple[type[Exception], ...] = ()) -> NoReturn:
    """Parse ``argv``, run the chosen subcommand and exit with its status.

    No subcommand prints the help and exits 2; an exception in ``handled`` becomes a one-line
    ``error: ...`` on stderr and exit 1.
    """
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        raise SystemExit(2)
    try:
        raise SystemExit(args.func(args))
    except handled as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
