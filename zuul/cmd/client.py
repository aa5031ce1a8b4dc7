"""``zuul``: the command-line client for the scheduler's API (and helpers for admins)."""
from __future__ import annotations

import argparse
import importlib
import pkgutil

import zuul.cli
from zuul.lib.cli import run_subcommand


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand found in :mod:`zuul.cli`."""
    parser = argparse.ArgumentParser(prog="zuul", description="Zuul command-line client.")
    parser.add_argument("--version", action="version", version=f"zuul {zuul.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(m.name for m in pkgutil.iter_modules(zuul.cli.__path__)
                         if not m.name.startswith("_")):
        importlib.import_module(f"zuul.cli.{module}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console script entry point: run a subcommand, exit with its status."""
    run_subcommand(build_parser(), argv)
