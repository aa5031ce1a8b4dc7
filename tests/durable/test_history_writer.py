"""Build history writes are batched: many per transaction, none lost, a build row replaced.

A real SQLite file: 100 items' worth of writes (buildset started, build ended, buildset
ended) submitted at once land in a few transactions; every buildset ends with its build's
times; a second record of the same build replaces the first (a restarted scheduler may end a
lost build again) instead of failing.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from zuul.db.history import BuildHistory, HistoryOp
from zuul.db.writer import HistoryWriter


def _buildset(uuid: str) -> dict[str, Any]:
    return {"uuid": uuid, "tenant": "t", "pipeline": "check", "project": "org/p",
            "branch": "main", "change": 1, "patchset": "a", "ref": "refs/pull/1/head",
            "oldrev": None, "newrev": "a", "ref_url": None, "event_id": f"e-{uuid}",
            "event_timestamp": 1.0, "queue_item_uuid": f"q-{uuid}"}


def _build(uuid: str, buildset: str, result: str, start: float) -> dict[str, Any]:
    return {"uuid": uuid, "buildset_uuid": buildset, "tenant": "t", "pipeline": "check",
            "project": "org/p", "branch": "main", "change": 1, "patchset": "a",
            "ref": "refs/pull/1/head", "oldrev": None, "newrev": "a", "ref_url": None,
            "event_id": "e", "job_name": "noop", "result": result, "start_time": start,
            "end_time": start + 2, "voting": True, "log_url": None, "node_labels": [],
            "error_detail": None, "held": False}


def test_history_writes_batched_in_order(tmp_path: Path) -> None:
    history = BuildHistory(f"sqlite:///{tmp_path / 'zuul.db'}")

    async def scenario() -> int:
        writer = HistoryWriter(history)
        futures = []
        for n in range(100):
            bs = f"bs{n}"
            futures += [writer.submit(HistoryOp.START_BUILDSET, _buildset(bs)),
                        writer.submit(HistoryOp.START_BUILDSET, _buildset(bs)),
                        writer.submit(HistoryOp.ADD_BUILD, _build(f"b{n}", bs, "SUCCESS",
                                                                    1000.0 + n)),
                        writer.submit(HistoryOp.END_BUILDSET, bs, "SUCCESS", "ok")]
        await asyncio.gather(*futures)
        # The same build recorded again (ABORTED): replaced, not an error.
        await writer.submit(HistoryOp.ADD_BUILD, _build("b0", "bs0", "ABORTED", 1000.0))
        await writer.close()
        return writer.batches

    batches = asyncio.run(scenario())
    assert batches <= 3, batches  # 401 writes: one transaction for the first 400 (or so)
    sets = history.buildsets("t", limit=200)
    assert len(sets) == 100
    assert {s["result"] for s in sets} == {"SUCCESS"}
    assert all(s["first_build_start_time"] and s["last_build_end_time"] for s in sets)
    rows = history.builds("t", limit=200)
    assert len(rows) == 100
    assert [r["result"] for r in rows if r["uuid"] == "b0"] == ["ABORTED"]
    history.close()
