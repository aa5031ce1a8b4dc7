"""Subcommands of the ``zuul`` command-line client.

Each module here defines ``register(subparsers)`` that adds its subcommand(s) and sets
``func=<callable(args) -> int>`` as the parser default. ``zuul.cmd.client`` discovers the
modules, so adding a subcommand never touches a shared file.
"""
