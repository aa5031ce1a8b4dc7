"""The build history and autohold requests, stored with SQLAlchemy.

SQLite (``sqlite:///<state_dir>/zuul.db``) by default, any SQLAlchemy URL (PostgreSQL:
``postgresql://user:pw@host/db``) by configuration. Calls are synchronous and short; the
scheduler runs them with ``asyncio.to_thread``.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

builds = sa.Table(
    "zuul_build", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("buildset_uuid", sa.String(36), nullable=False),
    sa.Column("tenant", sa.String(255), nullable=False, index=True),
    sa.Column("pipeline", sa.String(255), nullable=False),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("branch", sa.String(255)),
    sa.Column("change", sa.Integer),
    sa.Column("patchset", sa.String(255)),
    sa.Column("ref", sa.String(255)),
    sa.Column("oldrev", sa.String(255)),
    sa.Column("newrev", sa.String(255)),
    sa.Column("ref_url", sa.String(1024)),
    sa.Column("event_id", sa.String(255)),
    sa.Column("job_name", sa.String(255), nullable=False),
    sa.Column("result", sa.String(255)),
    sa.Column("start_time", sa.Float),
    sa.Column("end_time", sa.Float),
    sa.Column("voting", sa.Boolean, nullable=False),
    sa.Column("log_url", sa.String(1024)),
    sa.Column("node_labels", sa.JSON),
    sa.Column("error_detail", sa.Text),
    sa.Column("held", sa.Boolean, nullable=False, default=False),
)

autoholds = sa.Table(
    "zuul_autohold", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("ref_filter", sa.String(1024), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("max_count", sa.Integer, nullable=False),
    sa.Column("current_count", sa.Integer, nullable=False, default=0),
    sa.Column("node_expiration", sa.Integer, nullable=False, default=0),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("nodes", sa.JSON, nullable=False),
)

FILTERS = ("project", "pipeline", "job_name", "change", "result", "uuid")


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) if ts else None


def build_dict(row: Any) -> dict[str, Any]:
    """A build row in the shape of Zuul's ``/api/tenant/{t}/builds`` entries."""
    duration = (row.end_time - row.start_time) if row.start_time and row.end_time else None
    return {
        "_id": row.id, "uuid": row.uuid, "job_name": row.job_name, "result": row.result,
        "held": bool(row.held), "start_time": _iso(row.start_time),
        "end_time": _iso(row.end_time), "duration": duration, "voting": bool(row.voting),
        "log_url": row.log_url, "nodeset": ",".join(row.node_labels or []) or None,
        "error_detail": row.error_detail, "final": True, "artifacts": [], "provides": [],
        "project": row.project, "branch": row.branch, "pipeline": row.pipeline,
        "change": row.change, "patchset": row.patchset, "ref": row.ref,
        "oldrev": row.oldrev, "newrev": row.newrev, "ref_url": row.ref_url,
        "event_id": row.event_id, "buildset": {"uuid": row.buildset_uuid},
    }


def autohold_dict(row: Any) -> dict[str, Any]:
    """An autohold row in the shape of Zuul's ``/api/tenant/{t}/autohold`` entries."""
    return {"id": str(row.id), "tenant": row.tenant, "project": row.project,
            "job": row.job, "ref_filter": row.ref_filter, "reason": row.reason,
            "max_count": row.max_count, "current_count": row.current_count,
            "node_expiration": row.node_expiration, "expired": None,
            "nodes": row.nodes or []}


class BuildHistory:
    """Reads and writes the build history and the autohold requests."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        self._lock = threading.Lock()
        metadata.create_all(self.engine)

    def add_build(self, record: dict[str, Any]) -> None:
        """Store one finished build."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(builds.insert().values(**record))

    def builds(self, tenant: str, limit: int = 50, skip: int = 0,
               **filters: Any) -> list[dict[str, Any]]:
        """Builds of ``tenant``, newest first, filtered by exact column values."""
        query = sa.select(builds).where(builds.c.tenant == tenant)
        for key, value in filters.items():
            if key in FILTERS and value is not None:
                query = query.where(builds.c[key] == value)
        query = query.order_by(builds.c.id.desc()).limit(limit).offset(skip)
        with self.engine.connect() as conn:
            return [build_dict(r) for r in conn.execute(query)]

    def average_durations(self, tenant: str) -> dict[tuple[str, str], float]:
        """Mean duration of successful builds per ``(project, job)`` (for estimates)."""
        duration = builds.c.end_time - builds.c.start_time
        query = (sa.select(builds.c.project, builds.c.job_name, sa.func.avg(duration))
                 .where(builds.c.tenant == tenant, builds.c.result == "SUCCESS")
                 .group_by(builds.c.project, builds.c.job_name))
        with self.engine.connect() as conn:
            return {(p, j): float(d) for p, j, d in conn.execute(query) if d is not None}

    def add_autohold(self, tenant: str, project: str, job: str, ref_filter: str,
                     reason: str, count: int, node_expiration: int) -> dict[str, Any]:
        """Create an autohold request; return it."""
        with self._lock, self.engine.begin() as conn:
            result = conn.execute(autoholds.insert().values(
                tenant=tenant, project=project, job=job, ref_filter=ref_filter,
                reason=reason, max_count=count, current_count=0,
                node_expiration=node_expiration, created=time.time(), nodes=[]))
            new_id = result.inserted_primary_key[0]
        found = self.autohold(tenant, str(new_id))
        assert found is not None
        return found

    def autoholds(self, tenant: str) -> list[dict[str, Any]]:
        """Every autohold request of ``tenant``."""
        with self.engine.connect() as conn:
            return [autohold_dict(r) for r in conn.execute(
                sa.select(autoholds).where(autoholds.c.tenant == tenant)
                .order_by(autoholds.c.id))]

    def autohold(self, tenant: str, hold_id: str) -> dict[str, Any] | None:
        """One autohold request, or None."""
        if not hold_id.isdigit():
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(autoholds).where(
                autoholds.c.tenant == tenant, autoholds.c.id == int(hold_id))).first()
        return autohold_dict(row) if row is not None else None

    def delete_autohold(self, tenant: str, hold_id: str) -> bool:
        """Delete an autohold request; False when there was none."""
        if not hold_id.isdigit():
            return False
        with self._lock, self.engine.begin() as conn:
            result = conn.execute(autoholds.delete().where(
                autoholds.c.tenant == tenant, autoholds.c.id == int(hold_id)))
        return result.rowcount == 1

    def count_hold(self, hold_id: str, build_uuid: str) -> None:
        """Record that a build's nodes were held for request ``hold_id``."""
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(sa.select(autoholds).where(
                autoholds.c.id == int(hold_id))).first()
            if row is None:
                return
            conn.execute(autoholds.update().where(autoholds.c.id == row.id).values(
                current_count=row.current_count + 1,
                nodes=[*(row.nodes or []), {"build": build_uuid}]))

    def close(self) -> None:
        self.engine.dispose()
