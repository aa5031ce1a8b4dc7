"""The build history and autohold requests, stored with SQLAlchemy.

SQLite (``sqlite:///<state_dir>/zuul.db``) by default, any SQLAlchemy URL (PostgreSQL:
``postgresql://user:pw@host/db``) by configuration. Calls are synchronous and short; the
scheduler runs them with ``asyncio.to_thread``. The scheduler's hot-path writes (buildsets,
builds, system events) go through :meth:`BuildHistory.apply`: many in one transaction
(zuul.db.writer batches them). SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit
survives a crash of the process, and readers do not wait for the writer.
"""
from __future__ import annotations

import enum
import functools
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

log = logging.getLogger(__name__)


class HistoryOp(enum.Enum):
    """The history writes :meth:`BuildHistory.apply` takes (each with its arguments)."""

    START_BUILDSET = "start_buildset"  # (record,)
    ADD_BUILD = "add_build"  # (record,)
    END_BUILDSET = "end_buildset"  # (uuid, result, message)
    SYSTEM_EVENT = "system_event"  # (tenant, event_type, description, event_id)


Write = tuple[HistoryOp, tuple[Any, ...]]

metadata = sa.MetaData()


def _ref_columns() -> list[sa.Column[Any]]:
    """Fresh columns naming where a build or buildset ran: tenant, pipeline and the ref."""
    return [
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
    ]


builds = sa.Table(
    "zuul_build", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("buildset_uuid", sa.String(36), nullable=False, index=True),
    *_ref_columns(),
    sa.Column("job_name", sa.String(255), nullable=False),
    sa.Column("result", sa.String(255)),
    sa.Column("start_time", sa.Float),
    sa.Column("end_time", sa.Float),
    sa.Column("voting", sa.Boolean, nullable=False),
    sa.Column("log_url", sa.String(1024)),
    sa.Column("node_labels", sa.JSON),
    sa.Column("error_detail", sa.Text),
    sa.Column("held", sa.Boolean, nullable=False, default=False),
    sa.Column("execute_time", sa.Float),
)

buildsets = sa.Table(
    "zuul_buildset", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    *_ref_columns(),
    sa.Column("event_timestamp", sa.Float),
    sa.Column("queue_item_uuid", sa.String(36)),
    sa.Column("result", sa.String(255)),
    sa.Column("message", sa.Text),
    sa.Column("first_build_start_time", sa.Float),
    sa.Column("last_build_end_time", sa.Float),
)

buildset_events = sa.Table(
    "zuul_buildset_event", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("buildset_uuid", sa.String(36), nullable=False, index=True),
    sa.Column("event_time", sa.Float, nullable=False),
    sa.Column("event_type", sa.String(255), nullable=False),
    sa.Column("description", sa.Text),
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

system_events = sa.Table(
    "zuul_system_event", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(255), nullable=False, index=True),
    sa.Column("event_id", sa.String(255)),
    sa.Column("event_time", sa.Float, nullable=False),
    sa.Column("event_type", sa.String(255), nullable=False),
    sa.Column("description", sa.Text),
)

# Query filters of /builds and /buildsets: exact column matches.
BUILD_FILTERS = ("project", "pipeline", "job_name", "change", "branch", "patchset", "ref",
                 "newrev", "result", "uuid", "voting", "held")
BUILDSET_FILTERS = ("project", "pipeline", "change", "branch", "patchset", "ref", "newrev",
                    "result", "uuid")
REF_KEYS = ("project", "branch", "change", "patchset", "ref", "oldrev", "newrev", "ref_url")


ZERO_SHA = "0" * 40


class BuildsetEventType(enum.Enum):
    """Buildset event types (Zuul's ``zuul_buildset_event.event_type``)."""

    TRIGGERED = "triggered"


def describe_ref(record: dict[str, Any]) -> str:
    """A change or ref as Zuul's ``toString()`` names it (``PullRequest org/a 1,<sha>``)."""
    project = record.get("project")
    if record.get("change") is not None:
        return f"PullRequest {project} {record['change']},{record.get('patchset') or ''}"
    ref, oldrev, newrev = record.get("ref"), record.get("oldrev"), record.get("newrev")
    if newrev == ZERO_SHA:
        return f"Ref {project} deletes {ref} from {oldrev}"
    if not oldrev or oldrev == ZERO_SHA:
        return f"Ref {project} creates {ref} on {newrev}"
    return f"Ref {project} {ref} updated {oldrev}..{newrev}"


# A buildset's result, with its first build's start and last build's end (executemany).
END_BUILDSET = buildsets.update().where(buildsets.c.uuid == sa.bindparam("b_uuid")).values(
    result=sa.bindparam("b_result"), message=sa.bindparam("b_message"),
    first_build_start_time=sa.select(sa.func.min(builds.c.start_time)).where(
        builds.c.buildset_uuid == sa.bindparam("b_uuid")).scalar_subquery(),
    last_build_end_time=sa.select(sa.func.max(builds.c.end_time)).where(
        builds.c.buildset_uuid == sa.bindparam("b_uuid")).scalar_subquery())


def _same_keys(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` grouped by their keys (one executemany each), in first-seen order."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())


@functools.lru_cache(maxsize=64)
def _conflict_statement(dialect: str, table: sa.Table, columns: tuple[str, ...],
                        update: bool) -> Any:
    """The INSERT ... ON CONFLICT (uuid) DO NOTHING / DO UPDATE of ``columns`` for
    ``dialect`` (None where there is none), built once: building it is much of the cost of
    a small batch."""
    statement: Any
    if dialect == "sqlite":
        statement = sqlite_insert(table)
    elif dialect == "postgresql":
        statement = postgresql_insert(table)
    else:
        return None
    if not update:
        return statement.on_conflict_do_nothing(index_elements=["uuid"])
    return statement.on_conflict_do_update(
        index_elements=["uuid"],
        set_={k: statement.excluded[k] for k in columns if k != "uuid"})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL: readers never wait for the writer; NORMAL: no fsync per commit (a commit is
    still safe when the process dies, only a power loss may lose the last ones)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) if ts else None


def ref_dict(row: Any) -> dict[str, Any]:
    """Zuul's ``ref`` object of a build or buildset row."""
    return {key: getattr(row, key) for key in REF_KEYS}


def build_dict(row: Any, buildset: Any = None) -> dict[str, Any]:
    """A build row in the shape of Zuul's ``/api/tenant/{t}/builds`` entries.

    ``buildset`` (its row) adds the top-level fields Zuul gives builds listed on their own.
    """
    duration = (row.end_time - row.start_time) if row.start_time and row.end_time else None
    ret = {
        "_id": row.id, "uuid": row.uuid, "job_name": row.job_name, "result": row.result,
        "held": bool(row.held), "execute_time": _iso(row.execute_time or row.start_time),
        "start_time": _iso(row.start_time),
        "end_time": _iso(row.end_time), "duration": duration, "voting": bool(row.voting),
        "log_url": row.log_url, "nodeset": ",".join(row.node_labels or []) or None,
        "error_detail": row.error_detail, "final": True, "artifacts": [], "provides": [],
        "ref": ref_dict(row),
        # Flat copies kept for scripts written against earlier versions of this API.
        "project": row.project, "branch": row.branch, "change": row.change,
        "patchset": row.patchset, "oldrev": row.oldrev, "newrev": row.newrev,
        "ref_url": row.ref_url,
    }
    if buildset is not None:
        ret.update({
            "pipeline": row.pipeline, "event_id": row.event_id,
            "event_timestamp": _iso(buildset.event_timestamp),
            "queue_item_uuid": buildset.queue_item_uuid,
            "buildset": {"uuid": row.buildset_uuid, "refs": [ref_dict(row)]},
        })
    return ret


def buildset_dict(row: Any, builds_rows: list[Any] | None = None,
                  events: list[Any] | None = None) -> dict[str, Any]:
    """A buildset row in the shape of Zuul's ``/buildsets`` entries (``/buildset/{uuid}``
    adds ``builds`` and ``events``)."""
    ret: dict[str, Any] = {
        "_id": row.id, "uuid": row.uuid, "result": row.result, "message": row.message,
        "pipeline": row.pipeline, "event_id": row.event_id,
        "event_timestamp": _iso(row.event_timestamp), "queue_item_uuid": row.queue_item_uuid,
        "first_build_start_time": _iso(row.first_build_start_time),
        "last_build_end_time": _iso(row.last_build_end_time), "user_id": None,
        "parameters": {}, "refs": [ref_dict(row)],
    }
    if builds_rows is not None:
        ret["builds"] = [build_dict(b) for b in builds_rows]
    if events is not None:
        ret["events"] = [{"event_time": _iso(e.event_time), "event_type": e.event_type,
                          "description": e.description} for e in events]
    return ret


def autohold_dict(row: Any) -> dict[str, Any]:
    """An autohold row in the shape of Zuul's ``/api/tenant/{t}/autohold`` entries."""
    return {"id": str(row.id), "tenant": row.tenant, "project": row.project,
            "job": row.job, "ref_filter": row.ref_filter, "reason": row.reason,
            "max_count": row.max_count, "current_count": row.current_count,
            "node_expiration": row.node_expiration, "expired": None,
            "nodes": row.nodes or []}


def _filtered(query: Any, table: sa.Table, allowed: tuple[str, ...],
              filters: dict[str, Any]) -> Any:
    for key, value in filters.items():
        if key not in allowed or value is None:
            continue
        values = value if isinstance(value, list) else [value]
        query = query.where(table.c[key].in_(values))
    return query


class BuildHistory:
    """Reads and writes the build history and the autohold requests."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()
        metadata.create_all(self.engine)
        self._add_new_columns()
        for index in builds.indexes:  # indexes added since a database was made
            index.create(self.engine, checkfirst=True)

    def _add_new_columns(self) -> None:
        """Add nullable columns that a database made by an older version lacks."""
        inspector = sa.inspect(self.engine)
        for table in (builds, buildsets):
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(self.engine.dialect)
                    with self._lock, self.engine.begin() as conn:
                        conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN '
                                             f'"{column.name}" {kind}'))

    def add_build(self, record: dict[str, Any]) -> None:
        """Store one finished build (a second record of the same uuid replaces the first)."""
        self._apply_one(HistoryOp.ADD_BUILD, record)

    def apply(self, writes: Sequence[Write]) -> list[Exception | None]:
        """Apply ``writes`` in one transaction; return each one's error (or None).

        Each kind is written in bulk (one statement for many rows), in this order: buildsets
        started, builds (a later record of the same build wins), buildsets ended (their
        build times then include every build of the batch), system events. If the
        transaction fails, each write is retried in its own, so one bad record does not lose
        the others.
        """
        if not writes:
            return []
        try:
            with self._lock, self.engine.begin() as conn:
                self._write_bulk(conn, writes)
            return [None] * len(writes)
        except Exception as exc:  # noqa: BLE001 - retried one by one below
            if len(writes) == 1:
                return [exc]
            log.warning("History batch of %d write(s) failed (%s); writing one by one",
                        len(writes), type(exc).__name__)
        return [self.apply([write])[0] for write in writes]

    def _apply_one(self, op: HistoryOp, *args: Any) -> None:
        error = self.apply([(op, args)])[0]
        if error is not None:
            raise error

    def _write_bulk(self, conn: sa.Connection, writes: Sequence[Write]) -> None:
        started: dict[str, dict[str, Any]] = {}
        added: dict[str, dict[str, Any]] = {}
        ended: dict[str, dict[str, Any]] = {}
        events: list[dict[str, Any]] = []
        for op, args in writes:
            if op is HistoryOp.START_BUILDSET:
                started.setdefault(args[0]["uuid"], args[0])
            elif op is HistoryOp.ADD_BUILD:
                added.pop(args[0]["uuid"], None)
                added[args[0]["uuid"]] = args[0]
            elif op is HistoryOp.END_BUILDSET:
                ended[args[0]] = {"b_uuid": args[0], "b_result": args[1], "b_message": args[2]}
            else:
                tenant, event_type, description, event_id = args
                events.append({"tenant": tenant, "event_type": event_type,
                               "description": description, "event_id": event_id,
                               "event_time": time.time()})
        triggered: list[dict[str, Any]] = []
        if started:
            stored = set(conn.execute(sa.select(buildsets.c.uuid).where(
                buildsets.c.uuid.in_(list(started)))).scalars())
            # The one buildset event Zuul 14 records (its SQL reporter, on creation).
            triggered = [{"buildset_uuid": uuid, "event_type": BuildsetEventType.TRIGGERED.value,
                          "event_time": record.get("event_timestamp") or time.time(),
                          "description": f"Triggered by {describe_ref(record)}"}
                         for uuid, record in started.items() if uuid not in stored]
        for rows in _same_keys(started.values()):
            self._insert_new(conn, buildsets, rows)
        if triggered:
            conn.execute(buildset_events.insert(), triggered)
        for rows in _same_keys(added.values()):
            self._upsert(conn, builds, rows)
        if ended:
            conn.execute(END_BUILDSET, list(ended.values()))
        if events:
            conn.execute(system_events.insert(), events)

    @staticmethod
    def _insert_new(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert the rows whose ``uuid`` is not stored yet."""
        statement = _conflict_statement(conn.dialect.name, table, tuple(rows[0]), False)
        if statement is not None:
            conn.execute(statement, rows)
            return
        for row in rows:
            if conn.execute(sa.select(table.c.id).where(
                    table.c.uuid == row["uuid"])).first() is None:
                conn.execute(table.insert().values(**row))

    @staticmethod
    def _upsert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert the rows, replacing the stored ones of the same ``uuid``."""
        statement = _conflict_statement(conn.dialect.name, table, tuple(rows[0]), True)
        if statement is not None:
            conn.execute(statement, rows)
            return
        for row in rows:
            found = conn.execute(sa.select(table.c.id).where(
                table.c.uuid == row["uuid"])).first()
            if found is None:
                conn.execute(table.insert().values(**row))
            else:
                conn.execute(table.update().where(table.c.id == found.id).values(**row))

    def builds(self, tenant: str, limit: int = 50, skip: int = 0,
               exclude_result: list[str] | None = None, complete: bool | None = None,
               nodeset: str | None = None, idx_min: int | None = None,
               idx_max: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Builds of ``tenant``, newest first, filtered by exact column values.

        A filter whose value is a list matches any of its values (Zuul repeats parameters).
        """
        query = (sa.select(builds, buildsets.c.event_timestamp, buildsets.c.queue_item_uuid)
                 .select_from(builds.outerjoin(
                     buildsets, buildsets.c.uuid == builds.c.buildset_uuid))
                 .where(builds.c.tenant == tenant))
        query = _filtered(query, builds, BUILD_FILTERS, filters)
        if exclude_result:
            query = query.where(sa.or_(builds.c.result.is_(None),
                                       builds.c.result.not_in(exclude_result)))
        if complete is not None:
            query = query.where(builds.c.result.is_not(None) if complete
                                else builds.c.result.is_(None))
        if nodeset:
            query = query.where(sa.cast(builds.c.node_labels, sa.String).contains(nodeset))
        if idx_min is not None:
            query = query.where(builds.c.id >= idx_min)
        if idx_max is not None:
            query = query.where(builds.c.id <= idx_max)
        query = query.order_by(builds.c.id.desc()).limit(limit).offset(skip)
        with self.engine.connect() as conn:
            return [build_dict(r, r) for r in conn.execute(query)]

    def buildsets(self, tenant: str, limit: int = 50, skip: int = 0,
                  exclude_result: list[str] | None = None, complete: bool | None = None,
                  **filters: Any) -> list[dict[str, Any]]:
        """Buildsets of ``tenant``, newest first, with the same filter rules as builds."""
        query = sa.select(buildsets).where(buildsets.c.tenant == tenant)
        query = _filtered(query, buildsets, BUILDSET_FILTERS, filters)
        if exclude_result:
            query = query.where(sa.or_(buildsets.c.result.is_(None),
                                       buildsets.c.result.not_in(exclude_result)))
        if complete is not None:
            query = query.where(buildsets.c.result.is_not(None) if complete
                                else buildsets.c.result.is_(None))
        query = query.order_by(buildsets.c.id.desc()).limit(limit).offset(skip)
        with self.engine.connect() as conn:
            return [buildset_dict(r) for r in conn.execute(query)]

    def buildset(self, tenant: str, uuid: str) -> dict[str, Any] | None:
        """One buildset with its builds and events, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(buildsets).where(
                buildsets.c.tenant == tenant, buildsets.c.uuid == uuid)).first()
            if row is None:
                return None
            rows = list(conn.execute(sa.select(builds).where(
                builds.c.buildset_uuid == uuid).order_by(builds.c.id)))
            events = list(conn.execute(sa.select(buildset_events).where(
                buildset_events.c.buildset_uuid == uuid).order_by(buildset_events.c.id)))
        return buildset_dict(row, rows, events)

    def start_buildset(self, record: dict[str, Any]) -> None:
        """Store a buildset when its item starts (``result`` stays null until reported)."""
        self._apply_one(HistoryOp.START_BUILDSET, record)

    def end_buildset(self, uuid: str, result: str, message: str) -> None:
        """Set a buildset's result (and its build times from its builds)."""
        self._apply_one(HistoryOp.END_BUILDSET, uuid, result, message)

    def add_buildset_event(self, uuid: str, event_type: str, description: str) -> None:
        """Record something that happened to a buildset (dequeued, reset...)."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(buildset_events.insert().values(
                buildset_uuid=uuid, event_time=time.time(), event_type=event_type,
                description=description))

    def build_times(self, tenant: str, limit: int = 50, skip: int = 0,
                    exclude_result: list[str] | None = None,
                    **filters: Any) -> list[dict[str, Any]]:
        """Zuul's ``build-times``: finished builds with their duration, newest first."""
        query = sa.select(builds).where(builds.c.tenant == tenant,
                                        builds.c.end_time.is_not(None))
        query = _filtered(query, builds, BUILD_FILTERS, filters)
        if exclude_result:
            query = query.where(builds.c.result.not_in(exclude_result))
        query = query.order_by(builds.c.id.desc()).limit(limit).offset(skip)
        with self.engine.connect() as conn:
            return [{"uuid": r.uuid, "job_name": r.job_name, "result": r.result,
                     "start_time": _iso(r.start_time), "end_time": _iso(r.end_time),
                     "duration": (r.end_time - r.start_time) if r.start_time else None,
                     "final": True, "project": r.project, "branch": r.branch,
                     "pipeline": r.pipeline, "ref": ref_dict(r)}
                    for r in conn.execute(query)]

    def last_buildset_result(self, tenant: str, project: str | None, pipeline: str | None,
                             branch: str | None) -> str | None:
        """The result of the newest finished buildset matching the filters (for badges)."""
        query = sa.select(buildsets.c.result).where(buildsets.c.tenant == tenant,
                                                    buildsets.c.result.is_not(None))
        query = _filtered(query, buildsets, BUILDSET_FILTERS,
                          {"project": project, "pipeline": pipeline, "branch": branch})
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(buildsets.c.id.desc()).limit(1)).first()
        return row[0] if row is not None else None

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
            key = result.inserted_primary_key
            if key is None:
                raise RuntimeError("the autohold insert returned no primary key")
            new_id = key[0]
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

    def add_system_event(self, tenant: str, event_type: str, description: str,
                         event_id: str | None = None) -> None:
        """Record a tenant-wide event (reconfiguration, event processing paused...)."""
        self._apply_one(HistoryOp.SYSTEM_EVENT, tenant, event_type, description, event_id)

    def system_events(self, tenant: str, event_type: str | None = None, limit: int = 50,
                      skip: int = 0, idx_min: int | None = None,
                      idx_max: int | None = None) -> list[dict[str, Any]]:
        """Zuul's ``system-events`` of ``tenant``, newest first."""
        query = sa.select(system_events).where(system_events.c.tenant == tenant)
        if event_type:
            query = query.where(system_events.c.event_type == event_type)
        if idx_min is not None:
            query = query.where(system_events.c.id >= idx_min)
        if idx_max is not None:
            query = query.where(system_events.c.id <= idx_max)
        query = query.order_by(system_events.c.id.desc()).limit(limit).offset(skip)
        with self.engine.connect() as conn:
            return [{"event_id": r.event_id, "event_time": _iso(r.event_time),
                     "event_type": r.event_type, "description": r.description}
                    for r in conn.execute(query)]

    def close(self) -> None:
        self.engine.dispose()
