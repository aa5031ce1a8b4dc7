"""Property-based fuzzing of both APIs from their OpenAPI documents, through Apache.

Schemathesis turns every operation of ``zuul/openapi.yaml`` and ``nodepool/openapi.yaml`` (as
they are in the checkout: the documents the services publish) into Hypothesis strategies, in
both its positive (schema-valid) and negative (schema-violating) modes, and each generated
request goes through the real Apache to the real scheduler and launcher, with no token and
with an admin token. No answer may be a 5xx, and no service may log a traceback.

Run time is bounded: a first pass gives every (operation, mode, token) one example, later
passes add more until ``BUDGET`` seconds have passed since the start.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode

from tests.fuzz.conftest import ADMIN, FrontDoor
from tests.fuzz.test_hostile_input import assert_no_tracebacks

REPO = Path(__file__).resolve().parents[2]
BUDGET = 60.0
PASSES = (1, 4, 16)
# Requests the client library itself refuses to send (e.g. a header value outside Latin-1).
UNSENDABLE = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL,
              UnicodeError, ValueError)


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str],
          examples: int, failures: list[str], counts: dict[str, int]) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            response = case.call(base_url=base_url, headers=headers, timeout=15)
        except UNSENDABLE:
            return
        counts[str(response.status_code)[0] + "xx"] = \
            counts.get(str(response.status_code)[0] + "xx", 0) + 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {response.text[:200]!r} from "
                            f"{case.as_curl_command(headers=headers)}")

    run()


def _operations(schema: Any) -> list[Any]:
    """Every operation of an OpenAPI document (one schemathesis cannot read fails the test)."""
    return [result.ok() for result in schema.get_all_operations()]


def _modes(operation: Any) -> tuple[GenerationMode, ...]:
    """Negative mode only where the schema constrains something a request can violate (a
    query, a header, a body): a path of plain strings cannot be made invalid, and Hypothesis
    would search for seconds before giving up."""
    if len(operation.query) or len(operation.headers) or len(operation.body):
        return (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    return (GenerationMode.POSITIVE,)


@pytest.mark.slow
def test_no_5xx_from_either_api_through_apache(front_door: FrontDoor) -> None:
    apis = [("zuul", front_door.zuul, schemathesis.openapi.from_path(REPO / "zuul/openapi.yaml")),
            ("nodepool", front_door.nodepool,
             schemathesis.openapi.from_path(REPO / "nodepool/openapi.yaml"))]
    runs = [(name, base, operation, mode, auth)
            for name, base, schema in apis
            for operation in _operations(schema)
            for mode in _modes(operation)
            for auth in ({}, ADMIN)]
    failures: list[str] = []
    counts: dict[str, int] = {}
    began = time.monotonic()
    # The first pass covers everything, one example each, whatever the time; later passes
    # add examples while the budget lasts.
    for examples in PASSES:
        for _name, base, operation, mode, auth in runs:
            if examples > PASSES[0] and time.monotonic() - began > BUDGET:
                break
            _fuzz(operation, mode, base, auth, examples, failures, counts)
    print(f"fuzzed {len(runs)} (operation, mode, token) in {time.monotonic() - began:.0f}s; "
          f"answers {counts}")
    assert not failures, "\n".join(failures[:20])
    assert sum(counts.values()) >= len(runs) // 2
    assert_no_tracebacks(front_door.scheduler, front_door.launcher)
