"""Subcommands of the ``zuul`` command-line client.

Each module here defines ``register(subparsers)`` that adds its subcommand(s) and sets
``func=<callable(args) -> int>`` as the parser default. ``zuul.cmd.client`` discovers the
modules, so adding a subcommand never touches a shared file. Modules whose name starts
with ``_`` are helpers (``_client``: the HTTP client of the API), not subcommands.
"""
