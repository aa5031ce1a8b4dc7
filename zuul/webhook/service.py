"""The ``zuul-webhook`` worker's aiohttp application.

``POST /webhook/{connection}``: check the connection, size, spool room, signature, headers and
JSON; answer ``ping`` at once; spool anything else durably and answer 200, leaving the
gearman submission to the :class:`~zuul.webhook.submitter.Submitter`.

Memory: at most ``max_body_readers`` bodies are read at once (the others wait with their
bytes in the kernel's socket buffers and Apache), each read chunk by chunk into the HMAC and
refused as soon as it passes ``max_body_bytes``; a body is joined only once its signature
matched. What unauthenticated clients can make a worker hold is therefore bounded by
``max_body_readers x max_body_bytes`` (doc/webhook.rst).

Leaving (:meth:`WebhookService.drain`, on SIGTERM): ``/health/ready`` turns 503 and every
answer carries ``Connection: close`` for ``drain_delay`` seconds, then the listener closes and
requests already started (bodies still arriving included) are finished, spooled and answered.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gear
from aiohttp import web

from zuul.lib import gearman
from zuul.lib.components import registration_ctx
from zuul.lib.service import DRAIN_KEY
from zuul.lib.web import JSONHTTPError, add_health_routes, json_response, make_app
from zuul.webhook import verify
from zuul.webhook.batching import Batcher
from zuul.webhook.metrics import ACCEPT_SECONDS, REQUESTS, SPOOL_BYTES, SPOOL_EVENTS
from zuul.webhook.spool import Spool, SpoolFile
from zuul.webhook.submitter import Submitter

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
READ_CHUNK = 64 * 1024
SERVICE_KEY: web.AppKey[WebhookService] = web.AppKey("webhook_service")


class WebhookService:
    """Owns the spool, the submitter and the gearman probe; builds the web application."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.connections: dict[str, dict[str, Any]] = conf["connections"]
        self.spool = Spool(conf["spool_dir"], conf["spool_max_bytes"], conf["spool_max_events"])
        self.submitter = Submitter(self.spool, conf["gearman"], conf["submit"])
        self.probe: gear.Client | None = None
        self.draining = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.drain_timeout: float = conf["drain_timeout"]
        self._readers = asyncio.Semaphore(conf["max_body_readers"])
        # Disk room for the spool: checked in a thread (readiness, after each write); the
        # request path reads the last answer. None = fine, else why not.
        self.min_free = conf["spool_min_free_bytes"]
        self._disk_problem: str | None = None
        # Spool writes run in one thread, group-committed: every event that arrives while a
        # write is under way goes into the next file (one fsync pair for all of them).
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-write")
        self._writes: Batcher[tuple[str, bytes], SpoolFile] = Batcher(
            self._io, self._write_events, after=self._hand_over)
        SPOOL_EVENTS.set_function(lambda: self.spool.events)
        SPOOL_BYTES.set_function(lambda: self.spool.bytes)

    async def _lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        backlog = await asyncio.to_thread(self.spool.open, list(self.connections))
        self.submitter.start(backlog)
        self.probe = gearman.make_client(self.conf["gearman"], "zuul-webhook-probe")
        try:
            yield
        finally:
            # Together: a gear client's shutdown can wait ~2 s for its reconnect thread.
            await asyncio.gather(self.submitter.stop(), asyncio.to_thread(self.probe.shutdown))
            self._io.shutdown(wait=True)
            self.spool.close()

    def _check_disk(self) -> str | None:
        """Why the spool cannot take an event now (not writable, disk short), or None."""
        if not self.spool.writable():
            return f"spool directory {self.spool.root} is not writable"
        free = self.spool.free_bytes()
        if free < self.min_free:
            return (f"spool disk has {free} bytes free, below spool_min_free_bytes "
                    f"{self.min_free}")
        return None

    async def ready(self) -> tuple[bool, str]:
        """Ready when not leaving, a gearman server answers and the spool can take events."""
        if self.draining:
            return False, "this worker is shutting down"
        self._disk_problem = await asyncio.to_thread(self._check_disk)
        if self._disk_problem is not None:
            return False, self._disk_problem
        if self.spool.full():
            return False, f"spool is full ({self.spool.events} events, {self.spool.bytes} bytes)"
        if self.probe is None or not await gearman.reachable(self.probe):
            servers = ", ".join(self.conf["gearman"]["servers"])
            return False, f"gearman server not reachable ({servers})"
        return True, ""

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """``POST /webhook/{connection}``: verify, spool, answer."""
        started = time.perf_counter()
        name = request.match_info["connection"]
        self._active += 1
        self._idle.clear()
        try:
            response = await self._accept(request, name)
        except web.HTTPException as exc:
            REQUESTS.labels(name if name in self.connections else "", exc.status).inc()
            raise
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()
        REQUESTS.labels(name, response.status).inc()
        if response.status == 200:
            ACCEPT_SECONDS.observe(time.perf_counter() - started)
        return response

    async def _accept(self, request: web.Request, name: str) -> web.Response:
        conn = self.connections.get(name)
        if conn is None:
            raise JSONHTTPError(404, "unknown_connection", f"No webhook connection '{name}'")
        limit = conn["max_body_bytes"]
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        if self.spool.full(request.content_length or 0) or self._disk_problem is not None:
            raise JSONHTTPError(503, "spool_full",
                                "This worker's spool is full; deliver again later",
                                headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        verify.check_single(request.headers)
        signature = verify.BodySignature(conn, request.headers)
        body = await self._read_verified_body(request, limit, signature)
        event, delivery = verify.delivery_identity(request.headers)
        text = _json_text(body)
        if event == "ping":
            return json_response({"status": "pong", "delivery": delivery})
        if conn["allowed_events"] and event not in conn["allowed_events"]:
            return json_response({"status": "ignored", "delivery": delivery,
                                  "reason": f"event '{event}' is not enabled"}, status=202)
        payload = json.dumps({
            "connection": name, "delivery": delivery, "event": event,
            "headers": verify.kept_headers(request.headers), "body": text,
            "received_at": time.time()}).encode()
        if self.spool.full(len(payload)):
            raise JSONHTTPError(503, "spool_full",
                                "This worker's spool is full; deliver again later",
                                headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        # Shielded: a client that goes away mid-write does not cancel the write (and the
        # submitter learns of every written file in _hand_over, whoever is still waiting).
        await asyncio.shield(self._writes.call((name, payload)))
        return json_response({"status": "accepted", "delivery": delivery})

    def _write_events(self, items: Sequence[tuple[str, bytes]]
                      ) -> list[SpoolFile | BaseException]:
        """Write a batch of ``(connection, payload)`` into one file per connection."""
        by_connection: dict[str, list[bytes]] = {}
        for connection, payload in items:
            by_connection.setdefault(connection, []).append(payload)
        written: dict[str, SpoolFile | BaseException] = {}
        for connection, payloads in by_connection.items():
            try:
                written[connection] = self.spool.write_batch(connection, payloads)
            except OSError as exc:
                log.error("Cannot write to the spool: %s", exc)
                self._disk_problem = f"cannot write to the spool: {exc.strerror or exc}"
                written[connection] = JSONHTTPError(
                    503, "spool_error", "This worker cannot write its spool; deliver again",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        if all(isinstance(w, SpoolFile) for w in written.values()):
            self._disk_problem = self._check_disk()
        return [written[connection] for connection, _ in items]

    def _hand_over(self, items: Sequence[tuple[str, bytes]],
                   results: Sequence[SpoolFile | BaseException]) -> None:
        """Give every event of the files just written to the submitter (on the loop)."""
        events: dict[SpoolFile, list[bytes]] = {}
        for (_, payload), result in zip(items, results, strict=True):
            if isinstance(result, SpoolFile):
                events.setdefault(result, []).append(payload)
        for spool_file, payloads in events.items():
            self.submitter.add(spool_file, payloads)

    async def _read_verified_body(self, request: web.Request, limit: int,
                                  signature: verify.BodySignature) -> bytes:
        """The body, once its signature matched; each chunk goes to ``signature`` on arrival.

        One of ``max_body_readers`` slots is held while reading; the body is refused (413) as
        soon as it passes ``limit`` bytes and (408) when it takes over ``body_timeout``. The
        chunks are dropped on every way out, so an error response (whose traceback keeps
        this frame alive until it is sent) holds none of an unauthenticated body.
        """
        chunks: list[bytes] = []
        try:
            async with self._readers:
                size = 0
                async with asyncio.timeout(self.conf["body_timeout"]):
                    async for chunk in request.content.iter_chunked(READ_CHUNK):
                        size += len(chunk)
                        if size > limit:
                            raise _too_large(limit)
                        signature.update(chunk)
                        chunks.append(chunk)
            signature.check()
            return b"".join(chunks)
        except TimeoutError:
            raise JSONHTTPError(408, "body_timeout", "The body took longer than "
                                f"{self.conf['body_timeout']:g}s to arrive") from None
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise JSONHTTPError(400, "incomplete_body",
                                f"The body could not be read: {exc}") from None
        finally:
            chunks.clear()

    async def drain(self) -> None:
        """Start leaving: not ready, no kept-alive connections, for ``drain_delay`` seconds.

        The caller then closes the listener and waits for the requests already started.
        """
        log.info("Draining: /health/ready is 503 for %gs before the listener closes",
                 self.conf["drain_delay"])
        self.draining = True
        await asyncio.sleep(self.conf["drain_delay"])

    async def finish(self) -> None:
        """Wait (up to ``drain_timeout``) until no delivery is being read or spooled."""
        if self._active:
            log.info("Finishing %d request(s) already started", self._active)
        try:
            await asyncio.wait_for(self._idle.wait(), self.drain_timeout)
        except TimeoutError:
            log.warning("%d request(s) still unfinished after drain_timeout %gs",
                        self._active, self.drain_timeout)

    async def _close_when_draining(self, _request: web.Request,
                                   response: web.StreamResponse) -> None:
        """on_response_prepare: while draining, close each connection after its answer."""
        if self.draining:
            response.force_close()

    def make_app(self) -> web.Application:
        """The aiohttp application: the webhook route plus health and metrics."""
        max_body = max(c["max_body_bytes"] for c in self.connections.values())
        app = make_app(client_max_size=max_body)
        app[SERVICE_KEY] = self
        app[DRAIN_KEY] = self
        app.on_response_prepare.append(self._close_when_draining)
        app.cleanup_ctx.append(self._lifecycle)
        app.cleanup_ctx.append(registration_ctx(self.conf.get("zookeeper"), "webhook"))
        app.router.add_post("/webhook/{connection}", self.handle_webhook)
        add_health_routes(app, self.ready)
        return app


def _too_large(limit: int) -> JSONHTTPError:
    return JSONHTTPError(413, "body_too_large", f"The body is larger than {limit} bytes")


def _json_text(body: bytes) -> str:
    """The body as text, after checking it is a UTF-8 JSON object (else 400)."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise JSONHTTPError(400, "bad_body", "The body is not JSON (configure the webhook "
                            "with content type application/json)") from None
    if not isinstance(data, dict):
        raise JSONHTTPError(400, "bad_body", "The body is not a JSON object")
    return text
