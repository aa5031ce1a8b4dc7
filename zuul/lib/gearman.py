"""gear (gearman) helpers: an in-process server, clients from config, reachability checks.

gear is thread-based. Its clients and workers run their own threads; anything that blocks
(``submitJob`` waiting for a handle, ``getJob``, ``echo``) must run in a worker thread
(``asyncio.to_thread``), never on the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import socket

import gear

from zuul.lib.config import split_host_port

log = logging.getLogger(__name__)

DEFAULT_PORT = 4730


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


def add_servers(client: gear.BaseClient, servers: list[str]) -> None:
    """Point a gear client or worker at every ``host:port`` in ``servers``."""
    for server in servers:
        host, port = split_host_port(server, DEFAULT_PORT)
        client.addServer(host, port)


def make_client(servers: list[str], client_id: str) -> gear.Client:
    """A gear client connected (in the background, with retries) to ``servers``."""
    client = Client(client_id=client_id)
    add_servers(client, servers)
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


def geard_main() -> None:
    """``zuul-geard`` (or ``python -m zuul.lib.gearman``): gear's ``geard`` command line,
    serving :class:`Server`."""
    import types

    from gear.cmd import geard

    # geard builds ``gear.Server(...)``: show it a ``gear`` whose Server is ours (replacing
    # gear.Server itself would break gear's own ``super(Server, self)`` calls).
    geard.gear = types.SimpleNamespace(**{**vars(gear), "Server": Server})
    geard.main()


def start_server(host: str, port: int) -> gear.Server:
    """Start an in-process gearman server (its own threads) on ``host:port``."""
    server = Server(port=port, host=host)
    log.info("In-process gearman server listening on %s:%s", host, port)
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
