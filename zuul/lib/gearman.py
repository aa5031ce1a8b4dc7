"""gear (gearman) helpers: an in-process server, clients from config, reachability checks.

TLS: a ``gearman:`` config section (``GEARMAN_SCHEMA``) may carry gear's own ``ssl_key``,
``ssl_cert`` and ``ssl_ca`` (PEM paths). With them every connection is TLS with a client
certificate: gear's server requires one signed by ``ssl_ca`` (``CERT_REQUIRED``), and its
clients verify the server's certificate against ``ssl_ca``. The same three keys on the
scheduler's ``gearman_server`` section make its in-process server TLS only.

gear is thread-based. Its clients and workers run their own threads; anything that blocks
(``submitJob`` waiting for a handle, ``getJob``, ``echo``) must run in a worker thread
(``asyncio.to_thread``), never on the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from typing import Any

import gear

from zuul.lib.config import split_host_port

log = logging.getLogger(__name__)

DEFAULT_PORT = 4730
# gear's server does the TLS handshake of each new connection in its accept thread: bound it,
# so a local process that connects and sends nothing cannot stall every later connection.
HANDSHAKE_TIMEOUT = 5.0
# gear's keyword arguments for TLS (Server, Client.addServer and Worker.addServer alike).
TLS_KEYS = ("ssl_key", "ssl_cert", "ssl_ca")


def tls_args(conf: Mapping[str, Any]) -> dict[str, str]:
    """gear's ``ssl_key``/``ssl_cert``/``ssl_ca`` from a config section ({} without TLS)."""
    if not all(conf.get(key) for key in TLS_KEYS):
        return {}
    return {key: str(conf[key]) for key in TLS_KEYS}


def _no_delay(conn: gear.Connection) -> None:
    # gear leaves Nagle's algorithm on: a reply followed at once by the next request (e.g.
    # WORK_COMPLETE then GRAB_JOB) then waits for a delayed ACK, ~40 ms per job on loopback.
    sock = getattr(conn, "conn", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class Client(gear.Client):
    """A gear client with TCP_NODELAY on its connections."""

    def _onConnect(self, conn: gear.Connection) -> None:  # noqa: N802 - gear's hook name
        _no_delay(conn)
        super()._onConnect(conn)


class Worker(gear.Worker):
    """A gear worker with TCP_NODELAY on its connections."""

    def _onConnect(self, conn: gear.Connection) -> None:  # noqa: N802 - gear's hook name
        _no_delay(conn)
        super()._onConnect(conn)


def add_servers(client: gear.BaseClient, conf: Mapping[str, Any]) -> None:
    """Point a gear client or worker at every server of a ``gearman:`` section (TLS if set)."""
    tls = tls_args(conf)
    for server in conf["servers"]:
        host, port = split_host_port(server, DEFAULT_PORT)
        client.addServer(host, port, **tls)


def make_client(conf: Mapping[str, Any], client_id: str) -> gear.Client:
    """A gear client connected (in the background, with retries) to a ``gearman:`` section."""
    client = Client(client_id=client_id)
    add_servers(client, conf)
    return client


class Server(gear.Server):
    """gear's gearman server with TCP_NODELAY on every accepted connection.

    Without it back-to-back small packets to one connection (Nagle) wait for the peer's
    delayed ACK: ~100 instead of ~700 foreground jobs/s with many jobs in flight (measured
    with the webhook submitter). Linux copies TCP_NODELAY from the listening socket to accepted
    ones; it is set in the accept thread before its first accept.
    """

    def connectLoop(self) -> None:  # noqa: N802 - gear's method name
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connectLoop()


class ACLEntry(gear.ACLEntry):
    """gear's ACL entry with its function-name patterns compiled as bytes.

    gear compiles the ``register``/``invoke`` patterns of ``geard --acl`` as ``str`` but
    matches them against function names that are ``bytes`` on Python 3: the first CAN_DO or
    SUBMIT_JOB checked fails with a TypeError and the connection is dropped.
    """

    def setRegister(self, register: str | bytes | None) -> None:  # noqa: N802 - gear's API
        super().setRegister(register.encode() if isinstance(register, str) else register)

    def setInvoke(self, invoke: str | bytes | None) -> None:  # noqa: N802 - gear's API
        super().setInvoke(invoke.encode() if isinstance(invoke, str) else invoke)


def geard_main() -> None:
    """``zuul-geard`` (or ``python -m zuul.lib.gearman``): gear's ``geard`` command line,
    serving :class:`Server`, with a working ``--acl`` (:class:`ACLEntry`)."""
    import types

    from gear.cmd import geard

    # Accepted sockets start with this timeout (gear makes them non-blocking after the TLS
    # handshake), so a handshake that never comes ends instead of blocking the accept loop.
    socket.setdefaulttimeout(HANDSHAKE_TIMEOUT)
    # geard builds ``gear.Server(...)``: show it a ``gear`` whose Server is ours (replacing
    # gear.Server itself would break gear's own ``super(Server, self)`` calls).
    geard.gear = types.SimpleNamespace(**{**vars(gear), "Server": Server, "ACLEntry": ACLEntry})
    geard.main()


def start_server(host: str, port: int, tls: Mapping[str, Any] | None = None) -> gear.Server:
    """Start an in-process gearman server (its own threads) on ``host:port``.

    With ``tls`` (a section holding ``ssl_key``, ``ssl_cert``, ``ssl_ca``) it accepts only TLS
    connections with a client certificate signed by ``ssl_ca``.
    """
    args = tls_args(tls or {})
    server = Server(port=port, host=host, **args)
    log.info("In-process gearman server listening on %s:%s%s", host, port,
             " (TLS, client certificates required)" if args else "")
    return server


def _status_any(client: gear.BaseClient, timeout: float) -> bool:
    # gear's own server does not answer ECHO_REQ, but every gearman server answers the
    # administrative "status" request, so that is the round trip used as a probe.
    for conn in list(client.active_connections):
        try:
            conn.sendAdminRequest(gear.StatusAdminRequest(), timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - any failure means this server is not usable
            continue
    return False


async def reachable(client: gear.BaseClient, timeout: float = 1.0) -> bool:
    """True when at least one of the client's gearman servers answers a status request."""
    if not client.active_connections:
        return False
    try:
        return await asyncio.wait_for(asyncio.to_thread(_status_any, client, timeout),
                                      timeout + 0.5)
    except TimeoutError:
        return False


if __name__ == "__main__":
    geard_main()
