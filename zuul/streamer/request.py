"""The one message a console-stream client sends.

``{"uuid": "<build>", "logfile": "console.log"}``, optionally with ``"offset": N``: the byte
offset in the log file to start from (a client that reconnects sends the number of bytes it
has received, so it resumes where it stopped).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

BUILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MAX_LOGFILE = 255
MAX_OFFSET = 2**53  # the largest integer a JavaScript client can count exactly


class BadRequest(ValueError):
    """The request message is malformed; the message is the close reason (4000)."""


@dataclass(frozen=True)
class StreamRequest:
    """Which build's log to stream: ``logfile`` is a plain file name in its log dir."""

    uuid: str
    logfile: str
    offset: int = 0


def plain_file_name(name: str) -> bool:
    """True for a name that stays inside its directory: no separators, not ``.``/``..``."""
    return (0 < len(name) <= MAX_LOGFILE and name not in (".", "..")
            and not any(c in name for c in "/\\\0") and name.isprintable())


def parse_request(text: str) -> StreamRequest:
    """Parse and check the client's request; raise :class:`BadRequest` with the reason."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise BadRequest("request is nested too deeply") from None
    except ValueError:
        raise BadRequest("request is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("request must be a JSON object")
    for key in ("uuid", "logfile"):
        if key not in data:
            raise BadRequest(f"missing key: {key}")
        if not isinstance(data[key], str):
            raise BadRequest(f"{key} must be a string")
    if not BUILD_ID.match(data["uuid"]):
        raise BadRequest("uuid is not a build id")
    if not plain_file_name(data["logfile"]):
        raise BadRequest("logfile must be a plain file name")
    offset = data.get("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or \
            not 0 <= offset <= MAX_OFFSET:
        raise BadRequest("offset must be a byte count (an integer >= 0)")
    return StreamRequest(data["uuid"], data["logfile"], offset)
