"""aiohttp building blocks shared by every service's in-process API.

- :func:`json_error` and :func:`error_middleware`: every error is a JSON body
  ``{"error": <short>, "description": <sentence>}``; no traceback ever reaches a client.
  A request body that is not JSON, not UTF-8 or nested too deeply for the parser
  (``RecursionError``) is a 400 ``bad_json`` wherever it is parsed (:func:`read_json`, or
  ``await request.json()`` in any handler): the middleware catches it in this one place.
- :class:`AppRunner`: aiohttp's runner whose connections answer requests that fail before
  routing (a method aiohttp's parser does not know, malformed headers) with JSON bodies too:
  405 for ``curl -X FOO``, 400 otherwise, logged in one line without a traceback.
- :func:`cors_on_reads`: read-only routes send ``Access-Control-Allow-Origin: *``.
- :func:`add_health_routes` and :func:`metrics_handler`: ``/health/live``, ``/health/ready``
  and Prometheus ``/metrics``.
- :class:`SnapshotCache`: JSON snapshots rebuilt at most once per ``max_age`` seconds, sent
  with ``Cache-Control``, ``Last-Modified`` and ``ETag`` (``304`` on ``If-None-Match``).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import prometheus_client
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    """A JSON response with compact separators."""
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode(), status=status,
                        content_type="application/json", headers=headers)


def json_error(status: int, error: str, description: str,
               headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response ``{"error": error, "description": description}``."""
    return json_response({"error": error, "description": description}, status, headers)


class JSONHTTPError(web.HTTPException):
    """An HTTP error raised from a handler that renders as a JSON error body."""

    def __init__(self, status: int, error: str, description: str,
                 headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        super().__init__(
            headers=headers, content_type="application/json",
            text=json.dumps({"error": error, "description": description}))


def _short_error(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "error"


# What parsing an untrusted JSON body can raise: not JSON (JSONDecodeError), not UTF-8
# (UnicodeDecodeError), nested deeper than the interpreter's recursion limit (RecursionError).
BAD_JSON_ERRORS = (json.JSONDecodeError, UnicodeDecodeError, RecursionError)


def bad_json_description(exc: BaseException) -> str:
    """Why a request body could not be parsed as JSON, in one sentence."""
    reason = "nested too deeply" if isinstance(exc, RecursionError) else \
        "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
    return f"The request body is {reason}"


def bad_json(exc: BaseException) -> JSONHTTPError:
    """The 400 for a request body that could not be parsed as JSON."""
    return JSONHTTPError(400, "bad_json", bad_json_description(exc))


async def read_json(request: web.Request) -> Any:
    """The request body parsed as JSON; 400 ``bad_json`` when it cannot be."""
    try:
        return await request.json()
    except BAD_JSON_ERRORS as exc:
        raise bad_json(exc) from None


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request],
                           Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Turn every error (router 404/405, HTTP exceptions, crashes) into a JSON error body."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type == "application/json":
            # A fresh response: the exception's traceback (and every local of the frames it
            # passed, request bodies included) is freed now, not when the answer is sent.
            return web.Response(status=exc.status, body=exc.body, headers={
                k: v for k, v in exc.headers.items() if k.lower() != "content-length"})
        description = exc.text if exc.text and not exc.text.startswith(str(exc.status)) \
            else f"{exc.reason} for {request.method} {request.path}"
        headers = {k: v for k, v in exc.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        return json_error(exc.status, _short_error(exc.status), description, headers)
    except (ConnectionResetError, TimeoutError):
        raise
    except BAD_JSON_ERRORS as exc:
        log.info("Refused %s %s: unparseable JSON body (%s)", request.method, request.path,
                 type(exc).__name__)
        return json_error(400, "bad_json", bad_json_description(exc))
    except Exception:
        log.exception("Unhandled error serving %s %s", request.method, request.path)
        return json_error(500, "internal_error",
                          "The server hit an unexpected error; it has been logged.")


class JSONErrorRequestHandler(RequestHandler):
    """aiohttp's per-connection handler, answering parse errors with JSON error bodies.

    aiohttp's HTTP parser refuses request methods it does not know (``FOO``, ``PROPFIND``)
    before any route or middleware sees the request, with a plain-text 400 and, on a reused
    connection such as Apache's, an ERROR traceback in the log. Here: 405
    ``method_not_allowed`` for those, 4xx JSON for other unparseable requests, one INFO line.
    """

    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, BadHttpMethod):
            status, error = 405, "method_not_allowed"
            description = "This method is not allowed here"
        else:
            error = _short_error(status)
            detail = exc.message if isinstance(exc, HttpProcessingError) else ""
            description = f"The request could not be parsed: {detail or error}"
        log.info("Refused a request from %s: %d %s", request.remote, status, description)
        response = json_error(status, error, description)
        response.force_close()
        return response


class _JSONErrorServer(web.Server):
    """A low-level server whose connections use :class:`JSONErrorRequestHandler`."""

    def __call__(self) -> RequestHandler:
        return JSONErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """``web.AppRunner`` serving with :class:`JSONErrorRequestHandler` connections."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JSONErrorServer  # same object, only request handlers differ
        return server


async def cors_on_reads(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: allow any origin to read GET/HEAD responses."""
    if request.method in ("GET", "HEAD"):
        response.headers.setdefault("Access-Control-Allow-Origin", "*")


def public_base_url(request: web.Request, configured: str = "") -> str:
    """The URL clients reach this API under: the configured one, else from X-Forwarded-*.

    Behind the generated vhost Apache sends ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and
    ``X-Forwarded-Prefix``; directly, the request's own scheme and host are used.
    """
    if configured:
        return configured if configured.endswith("/") else configured + "/"
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    prefix = request.headers.get("X-Forwarded-Prefix", "").rstrip("/")
    return f"{proto}://{host}{prefix}/"


def make_app(middlewares: list[Any] | None = None, **kwargs: Any) -> web.Application:
    """A web.Application with the JSON error middleware and read-only CORS installed."""
    app = web.Application(middlewares=[error_middleware, *(middlewares or [])], **kwargs)
    app.on_response_prepare.append(cors_on_reads)
    return app


def add_health_routes(app: web.Application, ready: ReadyCheck) -> None:
    """Add ``/health/live`` (process answers) and ``/health/ready`` (dependencies reachable).

    ``ready`` returns ``(ok, reason)``; not ok gives 503 with the reason as JSON.
    """

    async def live(_request: web.Request) -> web.Response:
        return json_response({"status": "live"})

    async def readiness(_request: web.Request) -> web.Response:
        ok, reason = await ready()
        if ok:
            return json_response({"status": "ready"})
        return json_error(503, "not_ready", reason)

    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", readiness)
    app.router.add_get("/metrics", metrics_handler)


async def metrics_handler(_request: web.Request) -> web.Response:
    """Prometheus text exposition of the process's default registry."""
    body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


class _Snapshot:
    __slots__ = ("body", "etag", "last_modified", "built_at", "_gzipped")

    def __init__(self, body: bytes, built_at: float) -> None:
        self.body = body
        self.built_at = built_at
        self.etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        self.last_modified = formatdate(built_at, usegmt=True)
        self._gzipped: bytes | None = None

    @property
    def gzipped(self) -> bytes:
        """The body gzip-compressed, computed once per snapshot on first use."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=5, mtime=0)
        return self._gzipped

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


def _quality(params: str) -> float:
    """The ``q`` weight among an Accept-Encoding entry's parameters (1 when absent)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def accepts_gzip(request: web.Request) -> bool:
    """True when the client's Accept-Encoding allows gzip (and does not refuse it, q=0)."""
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return _quality(params) > 0
    return False


class SnapshotCache:
    """JSON documents rebuilt at most once per ``max_age`` seconds per key.

    ``respond(request, key, build)`` serves the cached bytes of ``build()`` (a sync callable
    returning JSON-able data) with caching headers, answering 304 on a matching
    ``If-None-Match``. Clients that accept gzip get the snapshot compressed once per rebuild
    (a 1,000-item status.json shrinks ~15x), with its own ETag.
    """

    def __init__(self, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self._snapshots: dict[Hashable, _Snapshot] = {}

    def invalidate(self) -> None:
        """Drop every snapshot (for example after a state change that must show at once)."""
        self._snapshots.clear()

    def get(self, key: Hashable, build: Callable[[], Any]) -> _Snapshot:
        """The current snapshot for ``key``, rebuilding it when older than ``max_age``."""
        now = time.time()
        snap = self._snapshots.get(key)
        if snap is None or now - snap.built_at >= self.max_age:
            body = json.dumps(build(), separators=(",", ":")).encode()
            if snap is not None and snap.body == body:
                snap.built_at = now
            else:
                snap = _Snapshot(body, now)
            self._snapshots[key] = snap
        return snap

    def respond(self, request: web.Request, key: Hashable, build: Callable[[], Any]
                ) -> web.Response:
        """Serve the snapshot for ``key`` with Cache-Control/ETag/Last-Modified headers."""
        snap = self.get(key, build)
        compressed = accepts_gzip(request)
        headers = {
            "Cache-Control": f"public, max-age={max(1, int(self.max_age))}",
            "ETag": snap.gzip_etag if compressed else snap.etag,
            "Last-Modified": snap.last_modified,
            "Vary": "Accept-Encoding",
        }
        inm = request.headers.get("If-None-Match")
        if inm and headers["ETag"] in [t.strip() for t in inm.split(",")]:
            return web.Response(status=304, headers=headers)
        if compressed:
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=snap.gzipped, content_type="application/json",
                                headers=headers)
        return web.Response(body=snap.body, content_type="application/json", headers=headers)
