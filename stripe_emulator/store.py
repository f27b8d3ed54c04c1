"""Persistent state in one SQLite database under the data directory.

One connection, guarded by one re-entrant lock, in WAL mode: every API call runs as a single
transaction (:meth:`Store.transaction`), so an object, the events it caused, the webhook
deliveries queued for them and the idempotent result of the request are written together or not
at all. Objects are stored as the JSON Stripe would return (plus an ``_internal`` key for the
emulator's own bookkeeping), with a few columns copied out for lists and lookups.

Lists are newest first, like Stripe's: insertion order (SQLite's rowid) is creation order, and the
``starting_after`` / ``ending_before`` cursors are object ids.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stripe_emulator.errors import resource_missing

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    customer TEXT,
    status TEXT,
    parent TEXT,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_type ON objects (object);
CREATE INDEX IF NOT EXISTS objects_by_customer ON objects (customer, object);
CREATE INDEX IF NOT EXISTS objects_by_parent ON objects (parent, object);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type);
CREATE TABLE IF NOT EXISTS idempotency (
    api_key TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    request_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (api_key, key)
);
CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (created);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (delivered, failed, next_attempt_at);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

DATABASE_FILE = "stripe.sqlite3"


@dataclass(frozen=True)
class Page:
    data: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True)
class CreatedFilter:
    """Stripe's ``created`` filter: an exact time or any of gt/gte/lt/lte."""

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None

    @classmethod
    def from_param(cls, value: int | dict[str, int] | None) -> CreatedFilter:
        if value is None:
            return cls()
        if isinstance(value, int):
            return cls(gte=value, lte=value)
        return cls(**value)

    def sql(self, column: str) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for bound, operator in (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")):
            value = getattr(self, bound)
            if value is not None:
                clauses.append(f"{column} {operator} ?")
                args.append(value)
        return clauses, args


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    event_type: str
    url: str
    secret: str
    attempts: int
    next_attempt_at: float


@dataclass(frozen=True)
class IdempotentResult:
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    created: float


class Store:
    """The emulator's SQLite database (``<data_dir>/stripe.sqlite3``)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DATABASE_FILE
        self.lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of writes, holding the lock throughout."""
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo only this block's writes if it raises."""
        with self.lock:
            self._db.execute("SAVEPOINT operation")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK TO operation")
                self._db.execute("RELEASE operation")
                raise
            self._db.execute("RELEASE operation")

    # ---------------------------------------------------------------------------------------
    # Objects

    def get(self, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._db.execute("SELECT data FROM objects WHERE id = ?", (object_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def insert(self, obj: dict[str, Any], *, parent: str | None = None) -> None:
        with self.lock:
            self._db.execute(
                "INSERT INTO objects (id, object, customer, status, parent, created, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    obj["id"],
                    obj["object"],
                    _customer_of(obj),
                    _status_of(obj),
                    parent,
                    obj["created"] if "created" in obj else obj["date"],  # invoice items: date
                    json.dumps(obj),
                ),
            )

    def save(self, obj: dict[str, Any]) -> None:
        with self.lock:
            self._db.execute(
                "UPDATE objects SET customer = ?, status = ?, data = ? WHERE id = ?",
                (_customer_of(obj), _status_of(obj), json.dumps(obj), obj["id"]),
            )

    def children(self, object_type: str, parent: str) -> list[dict[str, Any]]:
        """Objects of a type belonging to a parent object, oldest first."""
        with self.lock:
            rows = self._db.execute(
                "SELECT data FROM objects WHERE parent = ? AND object = ? ORDER BY rowid",
                (parent, object_type),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def page_objects(
        self,
        object_type: str,
        *,
        customer: str | None = None,
        status: str | None = None,
        parent: str | None = None,
        created: CreatedFilter = CreatedFilter(),
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Page:
        where = ["object = ?"]
        args: list[Any] = [object_type]
        for column, value in (("customer", customer), ("status", status), ("parent", parent)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        created_where, created_args = created.sql("created")
        return self._page(
            "objects",
            where + created_where,
            args + created_args,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            kind=object_type,
        )

    def find_objects(
        self,
        object_type: str,
        *,
        metadata_key: str | None = None,
        metadata_value: str | None = None,
        customer: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> tuple[int, list[dict[str, Any]]]:
        """For the control API: the count of matching objects and the newest ``limit`` of them."""
        where = ["object = ?"]
        args: list[Any] = [object_type]
        if metadata_key is not None:
            where.append("json_extract(data, ?) IS NOT NULL")
            args.append(_json_path("metadata", metadata_key))
            if metadata_value is not None:
                where.append("json_extract(data, ?) = ?")
                args.extend([_json_path("metadata", metadata_key), metadata_value])
        for column, value in (("customer", customer), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = " AND ".join(where)
        with self.lock:
            (count,) = self._db.execute(
                f"SELECT count(*) FROM objects WHERE {clause}",  # noqa: S608 - fixed columns
                args,
            ).fetchone()
            rows = self._db.execute(
                f"SELECT data FROM objects WHERE {clause} ORDER BY rowid DESC LIMIT ?",  # noqa: S608
                [*args, limit],
            ).fetchall()
        return int(count), [json.loads(row[0]) for row in rows]

    # ---------------------------------------------------------------------------------------
    # Events

    def add_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self._db.execute(
                "INSERT INTO events (id, type, created, data) VALUES (?, ?, ?, ?)",
                (event["id"], event["type"], event["created"], json.dumps(event)),
            )

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._db.execute("SELECT data FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def page_events(
        self,
        *,
        types: Sequence[str] = (),
        created: CreatedFilter = CreatedFilter(),
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Page:
        where: list[str] = []
        args: list[Any] = []
        if types:
            # Stripe accepts a trailing wildcard: "invoice.*".
            alternatives = []
            for event_type in types:
                if event_type.endswith("*"):
                    alternatives.append("type LIKE ? ESCAPE '\\'")
                    args.append(event_type[:-1].replace("%", r"\%").replace("_", r"\_") + "%")
                else:
                    alternatives.append("type = ?")
                    args.append(event_type)
            where.append("(" + " OR ".join(alternatives) + ")")
        created_where, created_args = created.sql("created")
        return self._page(
            "events",
            where + created_where,
            args + created_args,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            kind="event",
        )

    def decrement_pending_webhooks(self, event_id: str) -> None:
        with self.transaction():
            event = self.get_event(event_id)
            if event is None:
                return
            event["pending_webhooks"] = max(0, int(event["pending_webhooks"]) - 1)
            self._db.execute(
                "UPDATE events SET data = ? WHERE id = ?", (json.dumps(event), event_id)
            )

    def _page(
        self,
        table: str,
        where: list[str],
        args: list[Any],
        *,
        limit: int,
        starting_after: str | None,
        ending_before: str | None,
        kind: str,
    ) -> Page:
        where = list(where)
        args = list(args)
        order = "DESC"
        with self.lock:
            for cursor, operator, param in (
                (starting_after, "<", "starting_after"),
                (ending_before, ">", "ending_before"),
            ):
                if cursor is None:
                    continue
                row = self._db.execute(
                    f"SELECT rowid FROM {table} WHERE id = ?",  # noqa: S608 - fixed table names
                    (cursor,),
                ).fetchone()
                if row is None:
                    raise resource_missing(kind, cursor, param=param)
                where.append(f"rowid {operator} ?")
                args.append(row[0])
                if param == "ending_before":
                    order = "ASC"
            clause = (" WHERE " + " AND ".join(where)) if where else ""
            rows = self._db.execute(
                f"SELECT data FROM {table}{clause} ORDER BY rowid {order} LIMIT ?",  # noqa: S608
                [*args, limit + 1],
            ).fetchall()
        data = [json.loads(row[0]) for row in rows[:limit]]
        if order == "ASC":
            data.reverse()
        return Page(data=data, has_more=len(rows) > limit)

    # ---------------------------------------------------------------------------------------
    # Idempotency

    def idempotent_result(self, api_key: str, key: str) -> IdempotentResult | None:
        with self.lock:
            row = self._db.execute(
                "SELECT fingerprint, status, body, request_id, created FROM idempotency "
                "WHERE api_key = ? AND key = ?",
                (api_key, key),
            ).fetchone()
        if row is None:
            return None
        return IdempotentResult(
            fingerprint=row[0], status=row[1], body=bytes(row[2]), request_id=row[3], created=row[4]
        )

    def save_idempotent_result(self, api_key: str, key: str, result: IdempotentResult) -> None:
        with self.lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency "
                "(api_key, key, fingerprint, status, body, request_id, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    api_key,
                    key,
                    result.fingerprint,
                    result.status,
                    result.body,
                    result.request_id,
                    result.created,
                ),
            )

    def purge_idempotent_results(self, older_than: float) -> None:
        with self.lock:
            self._db.execute("DELETE FROM idempotency WHERE created < ?", (older_than,))

    # ---------------------------------------------------------------------------------------
    # Webhook deliveries

    def add_delivery(
        self, *, event_id: str, event_type: str, url: str, secret: str, now: float
    ) -> None:
        with self.lock:
            self._db.execute(
                "INSERT INTO deliveries (event_id, event_type, url, secret, next_attempt_at, "
                "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, event_type, url, secret, now, now, now),
            )

    def due_deliveries(self, now: float, *, exclude: set[int], limit: int) -> list[Delivery]:
        with self.lock:
            rows = self._db.execute(
                "SELECT id, event_id, event_type, url, secret, attempts, next_attempt_at "
                "FROM deliveries WHERE delivered = 0 AND failed = 0 AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, id LIMIT ?",
                (now, limit + len(exclude)),
            ).fetchall()
        due = [Delivery(*row) for row in rows if row[0] not in exclude]
        return due[:limit]

    def next_delivery_time(self, after: float) -> float | None:
        """When the next pending delivery not yet due falls due."""
        with self.lock:
            row = self._db.execute(
                "SELECT min(next_attempt_at) FROM deliveries "
                "WHERE delivered = 0 AND failed = 0 AND next_attempt_at > ?",
                (after,),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        status: int | None,
        error: str | None,
        delivered: bool,
        failed: bool,
        next_attempt_at: float,
    ) -> None:
        with self.lock:
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, "
                "delivered = ?, failed = ?, next_attempt_at = ?, updated = ? WHERE id = ?",
                (
                    status,
                    error,
                    int(delivered),
                    int(failed),
                    next_attempt_at,
                    time.time(),
                    delivery_id,
                ),
            )

    def delivery_log(self) -> list[dict[str, Any]]:
        """One entry per event, oldest first, summing up the deliveries of its copies.

        ``copies`` is how many times the event is to be delivered (``webhook_duplicates``),
        ``deliveries`` how many of them succeeded, ``attempts`` the HTTP requests made;
        ``delivered`` means every copy arrived, ``failed`` that some copy was given up on.
        """
        with self.lock:
            rows = self._db.execute(
                "SELECT event_id, event_type, url, attempts, last_status, last_error, delivered, "
                "failed, next_attempt_at, updated FROM deliveries ORDER BY id"
            ).fetchall()
        log: dict[str, dict[str, Any]] = {}
        for event_id, event_type, url, attempts, status, error, delivered, failed, due, at in rows:
            entry = log.setdefault(
                event_id,
                {
                    "event_id": event_id,
                    "type": event_type,
                    "url": url,
                    "copies": 0,
                    "deliveries": 0,
                    "attempts": 0,
                    "last_status": None,
                    "last_error": None,
                    "delivered": True,
                    "failed": False,
                    "next_attempt_at": None,
                    "_last_attempt": -1.0,
                },
            )
            entry["copies"] += 1
            entry["deliveries"] += delivered
            entry["attempts"] += attempts
            entry["delivered"] = entry["delivered"] and bool(delivered)
            entry["failed"] = entry["failed"] or bool(failed)
            if attempts and at >= entry["_last_attempt"]:
                entry.update(last_status=status, last_error=error, _last_attempt=at)
            if not delivered and not failed:
                pending = entry["next_attempt_at"]
                entry["next_attempt_at"] = due if pending is None else min(pending, due)
        for entry in log.values():
            del entry["_last_attempt"]
        return list(log.values())

    # ---------------------------------------------------------------------------------------
    # Settings kept with the data (e.g. the generated webhook secret) and reset

    def meta(self, key: str) -> str | None:
        with self.lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def wipe(self) -> None:
        """Delete every object, event, idempotent result and delivery (not the meta settings)."""
        with self.transaction():
            for table in ("objects", "events", "idempotency", "deliveries"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names


def _status_of(obj: dict[str, Any]) -> str | None:
    """The object's status, or the emulator's own for objects without one (invoice items)."""
    status = obj.get("status", obj.get("_internal", {}).get("status"))
    return status if isinstance(status, str) else None


def _customer_of(obj: dict[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return str(obj["id"])
    customer = obj.get("customer")
    return customer if isinstance(customer, str) else None


def _json_path(*keys: str) -> str:
    return "$" + "".join('."' + key.replace('"', '\\"') + '"' for key in keys)
