"""Running an aiohttp service from a console script.

Each service's ``main`` parses ``-c CONFIG`` (and ``--foreground``), configures logging to
stderr, builds its :class:`aiohttp.web.Application` and serves it until SIGTERM/SIGINT.
Services never daemonize: a supervisor (systemd, start-stop-daemon) does that, and tests run
them as child processes they can wait for.

A service that must leave gracefully puts a :class:`Drainable` in its application under
:data:`DRAIN_KEY`: on SIGTERM its ``drain()`` runs while the listener is still open, then the
listener closes and its ``finish()`` waits for the requests already started (aiohttp's own
shutdown would stop reading their bodies), then the connections close.
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import io
import logging
import logging.handlers
import queue
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from zuul.lib.config import exit_on_config_error
from zuul.lib.web import AppRunner

log = logging.getLogger(__name__)


class Drainable(Protocol):
    """What a service that leaves gracefully offers :func:`serve`."""

    drain_timeout: float

    async def drain(self) -> None:
        """Prepare to leave (e.g. readiness 503) while still serving; return when done."""

    async def finish(self) -> None:
        """With the listener closed: return once every started request has been answered
        (or ``drain_timeout`` has passed)."""


DRAIN_KEY: web.AppKey[Drainable] = web.AppKey("drain")


def service_argparser(prog: str, description: str, default_config: str) -> argparse.ArgumentParser:
    """The argument parser every service shares: ``-c/--config``, ``--foreground``, logging."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-c", "--config", default=default_config,
                        help=f"path to the YAML configuration (default: {default_config})")
    parser.add_argument("--foreground", "-d", action="store_true",
                        help="run in the foreground (services always do; accepted for "
                             "compatibility with Zuul's command line)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level for stderr (default: INFO)")
    return parser


LOG_POLL = 0.05  # seconds between the log writer's looks at its queue


class BatchStreamHandler(logging.StreamHandler):
    """A :class:`~logging.StreamHandler` that flushes its stream only when told
    (:meth:`flush_batch`), not after every record: one write for a batch of lines."""

    def flush(self) -> None:
        """Nothing per record (``emit`` calls this after each one)."""

    def flush_batch(self) -> None:
        """Write what the stream buffered."""
        super().flush()


class BatchingQueueListener(logging.handlers.QueueListener):
    """A :class:`~logging.handlers.QueueListener` that looks at its queue every
    ``LOG_POLL`` seconds and writes what it found with one flush, instead of being woken by
    every record: a woken listener takes the GIL from the event loop once per log line."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord],
                 *handlers: logging.Handler) -> None:
        super().__init__(records, *handlers)
        self.records = records

    def dequeue(self, block: bool) -> logging.LogRecord:
        while True:
            try:
                return self.records.get_nowait()
            except queue.Empty:
                if not block:
                    raise
            for handler in self.handlers:
                getattr(handler, "flush_batch", handler.flush)()
            time.sleep(LOG_POLL)


def setup_logging(level: str) -> None:
    """Log to stderr with timestamps; quiet the chattiest libraries.

    Records are written by a thread of their own (:class:`BatchingQueueListener`): a write
    to stderr gives up the GIL, and the event loop would then wait behind every other
    thread to get it back, once per log line. The records of up to ``LOG_POLL`` seconds are
    written together (what is queued at exit is written too).
    """
    # The format below names no thread, process or source line: skip collecting them for
    # every record (the logging HOWTO's "Optimization" settings; findCaller walks frames).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # documented there
    # stderr, buffered here (Python's own is line-buffered: one write per line).
    stream = io.TextIOWrapper(open(sys.stderr.fileno(), "wb", closefd=False),  # noqa: SIM115
                              encoding="utf-8", errors="backslashreplace")
    handler = BatchStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = BatchingQueueListener(records, handler)
    listener.start()
    atexit.register(stream.flush)  # runs last (atexit is last in, first out)
    atexit.register(listener.stop)  # writes what is queued before the process exits
    queued = logging.handlers.QueueHandler(records)
    queued.setFormatter(logging.Formatter("%(message)s"))  # the listener's adds the rest
    logging.basicConfig(level=getattr(logging, level), handlers=[queued])
    for noisy in ("gear", "kazoo.client", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))


async def serve(app: web.Application, host: str, port: int,
                on_reload: Callable[[], Awaitable[None]] | None = None,
                shutdown_timeout: float = 5.0) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT; SIGHUP calls ``on_reload``.

    With a :class:`Drainable` under :data:`DRAIN_KEY`, its ``drain()`` runs first on the
    signal and its ``drain_timeout`` replaces ``shutdown_timeout``.
    """
    drainer = app.get(DRAIN_KEY)
    if drainer is not None:
        shutdown_timeout = drainer.drain_timeout
    runner = AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        log.info("Listening on http://%s:%s", host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if on_reload is not None:
            def _reload() -> None:
                task: asyncio.Future[None] = asyncio.ensure_future(on_reload())
                task.add_done_callback(_log_reload_result)
            loop.add_signal_handler(signal.SIGHUP, _reload)
        await stop.wait()
        log.info("Stopping")
        if drainer is not None:
            await drainer.drain()
            for listening in list(runner.sites):
                await listening.stop()
            log.info("Listener closed; finishing the requests already started")
            await drainer.finish()
    finally:
        await runner.cleanup()


def _log_reload_result(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Reload failed: %s", task.exception())


def run_service(argv: list[str] | None, prog: str, description: str, default_config: str,
                build: Callable[[argparse.Namespace], tuple[web.Application, str, int]],
                on_reload: Callable[[web.Application], Awaitable[None]] | None = None) -> None:
    """Parse arguments, build the app (config errors exit 2 with one line) and serve it.

    ``build(args)`` loads the configuration and returns ``(app, host, port)``; a bind failure
    exits 1 with one line rather than a traceback.
    """
    args = service_argparser(prog, description, default_config).parse_args(argv)
    setup_logging(args.log_level)
    app, host, port = exit_on_config_error(build)(args)
    reload_cb = (lambda: on_reload(app)) if on_reload else None
    try:
        asyncio.run(serve(app, host, port, reload_cb))
    except OSError as exc:
        print(f"error: {prog}: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(1) from None
