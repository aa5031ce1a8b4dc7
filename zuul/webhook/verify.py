"""Checking a GitHub delivery: its signature and the headers that identify it.

Every failure raises :class:`zuul.lib.web.JSONHTTPError`, so the client gets a JSON error
body with the right status and the handler stays linear.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from zuul.lib.web import JSONHTTPError

# GitHub's delivery ids are GUIDs; anything outside this set is refused rather than
# written to disk or logs.
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# GitHub's event names: lower case, digits and '_' (``projects_v2_item``).
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# The request headers kept with the event (the scheduler may want them later).
KEPT_HEADERS = (
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-GitHub-Hook-ID",
    "X-GitHub-Hook-Installation-Target-ID",
    "X-GitHub-Hook-Installation-Target-Type",
    "X-Hub-Signature-256",
    "User-Agent",
    "Content-Type",
)


def sign(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    """The ``X-Hub-Signature(-256)`` header value GitHub sends for ``body``."""
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    return f"{algorithm}={digest}"


class BodySignature:
    """The delivery's signature, checked against an HMAC computed chunk by chunk.

    Built from the headers before the body is read (401 ``missing_signature`` at once when
    there is none to check), fed each chunk as it arrives (:meth:`update`), then
    checked (:meth:`check`): the body is never needed whole to verify it.

    ``X-Hub-Signature-256`` (HMAC-SHA256) is always accepted; the legacy SHA-1
    ``X-Hub-Signature`` only when the connection sets ``allow_sha1``. When the SHA-256
    header is present it is the only one looked at.
    """

    def __init__(self, conn: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        sha256 = headers.get("X-Hub-Signature-256")
        sha1 = headers.get("X-Hub-Signature")
        if sha256 is not None:
            self.header, self.given, self.algorithm = "X-Hub-Signature-256", sha256, "sha256"
        elif sha1 is not None and conn["allow_sha1"]:
            self.header, self.given, self.algorithm = "X-Hub-Signature", sha1, "sha1"
        else:
            wanted = "X-Hub-Signature-256" + (" or X-Hub-Signature" if conn["allow_sha1"]
                                              else "")
            raise JSONHTTPError(401, "missing_signature", f"The request has no {wanted} header")
        self._hmac = hmac.new(conn["secret"].encode(), digestmod=self.algorithm)

    def update(self, chunk: bytes) -> None:
        """Add the next chunk of the body."""
        self._hmac.update(chunk)

    def check(self) -> None:
        """Raise 401 ``bad_signature`` unless the body so far matches the signature."""
        expected = f"{self.algorithm}={self._hmac.hexdigest()}".encode()
        # compare_digest on ASCII bytes; a non-ASCII header simply does not match.
        given = self.given.encode("ascii", errors="replace")
        if not hmac.compare_digest(given, expected):
            raise JSONHTTPError(401, "bad_signature",
                                f"{self.header} does not match the body and secret")


def check_signature(conn: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> None:
    """Raise 401 unless ``body`` carries a valid signature (see :class:`BodySignature`)."""
    signature = BodySignature(conn, headers)
    signature.update(body)
    signature.check()


def check_single(headers: Mapping[str, str]) -> None:
    """400 when a header this module reads comes more than once (ambiguous, maybe smuggled)."""
    getall = getattr(headers, "getall", None)
    if getall is None:
        return
    for name in ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256",
                 "X-Hub-Signature"):
        if len(getall(name, [])) > 1:
            raise JSONHTTPError(400, "duplicate_header", f"{name} is given more than once")


def delivery_identity(headers: Mapping[str, str]) -> tuple[str, str]:
    """``(event, delivery)`` from the ``X-GitHub-*`` headers; 400 when missing or malformed."""
    event = headers.get("X-GitHub-Event")
    delivery = headers.get("X-GitHub-Delivery")
    if not event:
        raise JSONHTTPError(400, "missing_header", "The X-GitHub-Event header is required")
    if not delivery:
        raise JSONHTTPError(400, "missing_header", "The X-GitHub-Delivery header is required")
    if not EVENT_NAME.match(event):
        raise JSONHTTPError(400, "bad_header",
                            "X-GitHub-Event must be a lower-case event name (a-z, 0-9, _)")
    if not _DELIVERY.match(delivery):
        raise JSONHTTPError(400, "bad_header",
                            "X-GitHub-Delivery must be 1-128 letters, digits, '.', '_', ':' "
                            "or '-'")
    return event, delivery


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The subset of request headers stored with the event."""
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}
