"""What SQLite and PostgreSQL stores share: the queries, the write transaction and the audit
append. Internal, unstable: use ``open_store``.

Every write runs under one writer lock (a thread lock here, plus ``BEGIN IMMEDIATE`` in
SQLite or a transaction-scoped advisory lock in PostgreSQL), so cursors and audit indexes
are handed out in commit order and the compact Merkle state never forks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from trilat.core.audit import CompactRange, leaf_hash, node_hash
from trilat.core.errors import StoreError
from trilat.store.base import (
    AuditEntry,
    AuditLeaf,
    ItemFilter,
    ItemRow,
    StoredCheckpoint,
    StoredItem,
    User,
)
from trilat.store.schema import AUDIT_NODES_VERSION, MIGRATIONS_TABLE, statements

_ITEM_COLUMNS = (
    "seq, id, kind, created, classification, originator_nation, topics, document, digest, "
    "supersedes, recalled_by"
)


class SqlStore:
    """A store over one DB-API connection; subclasses supply the dialect."""

    url: str
    migrations: tuple[str, ...] = ()
    _integrity_errors: tuple[type[BaseException], ...] = ()
    _database_errors: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False

    # ----- dialect hooks -------------------------------------------------------------
    def _cursor(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A write transaction holding the store's writer lock; commits on exit."""
        raise NotImplementedError
        yield  # pragma: no cover

    def _sql(self, text: str) -> str:
        return text

    def _bytewise(self, column: str) -> str:
        """*column* compared byte by byte (prefix ranges of ASCII topic names)."""
        return column

    # ----- helpers ---------------------------------------------------------------------
    def _query(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            self._check_open()
            try:
                cursor = self._cursor()
                cursor.execute(self._sql(text), tuple(params))
                rows = cursor.fetchall()
                self._end_read()
            except self._database_errors as exc:
                self._end_read(failed=True)
                raise StoreError(f"store read failed: {type(exc).__name__}") from exc
            return [tuple(row) for row in rows]

    def _end_read(self, *, failed: bool = False) -> None:
        """Close the implicit read transaction (PostgreSQL); nothing for SQLite."""

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock:
            self._check_open()
            try:
                with self._transaction() as cursor:
                    yield cursor
            except self._integrity_errors as exc:
                raise StoreError(f"store refused the write: {_first_line(exc)}") from exc
            except self._database_errors as exc:
                raise StoreError(f"store write failed: {type(exc).__name__}") from exc

    def _x(self, cursor: Any, text: str, params: Sequence[Any] = ()) -> Any:
        cursor.execute(self._sql(text), tuple(params))
        return cursor

    def migrate(self) -> None:
        """Apply the missing migrations; refuse a store newer than this code."""
        with self._write() as cursor:
            self._x(cursor, MIGRATIONS_TABLE)
            rows = self._x(cursor, "SELECT version FROM schema_migrations").fetchall()
            applied = {row[0] for row in rows}
            newest = max(applied, default=0)
            if newest > len(self.migrations):
                raise StoreError(
                    f"store schema version {newest} is newer than this trilat "
                    f"({len(self.migrations)})"
                )
            for version, script in enumerate(self.migrations, start=1):
                if version in applied:
                    continue
                for statement in statements(script):
                    self._x(cursor, statement)
                if version == AUDIT_NODES_VERSION:
                    self._fill_audit_nodes(cursor)
                self._x(
                    cursor,
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat()),
                )

    # ----- audit ----------------------------------------------------------------------
    def _load_range(self, cursor: Any) -> CompactRange:
        size, blob = self._x(cursor, "SELECT size, hashes FROM audit_state WHERE id = 1").fetchone()
        blob = _bytes(blob)
        return CompactRange(int(size), [blob[i : i + 32] for i in range(0, len(blob), 32)])

    def _insert_nodes(self, cursor: Any, compact: CompactRange, digest: bytes) -> None:
        for height, index, value in completed_subtrees(compact, digest):
            self._x(
                cursor,
                "INSERT INTO audit_nodes (height, idx, hash) VALUES (?, ?, ?)",
                (height, index, value),
            )

    def _fill_audit_nodes(self, cursor: Any) -> None:
        """Write the interior hashes of a log that predates ``audit_nodes``."""
        compact = CompactRange()
        while True:
            rows = self._x(
                cursor,
                "SELECT leaf_hash FROM audit_leaves WHERE idx >= ? ORDER BY idx LIMIT 5000",
                (compact.size,),
            ).fetchall()
            for row in rows:
                digest = _bytes(row[0])
                self._insert_nodes(cursor, compact, digest)
                compact.append(digest)
            if len(rows) < 5000:
                return

    def _append_leaves(self, cursor: Any, entries: Sequence[AuditEntry]) -> int:
        compact = self._load_range(cursor)
        for entry in entries:
            digest = leaf_hash(entry.data)
            self._x(
                cursor,
                "INSERT INTO audit_leaves (idx, event, item_id, data, leaf_hash) "
                "VALUES (?, ?, ?, ?, ?)",
                (compact.size, entry.event, entry.item_id, entry.data, digest),
            )
            self._insert_nodes(cursor, compact, digest)
            compact.append(digest)
        self._x(
            cursor,
            "UPDATE audit_state SET size = ?, hashes = ? WHERE id = 1",
            (compact.size, b"".join(compact.hashes)),
        )
        return compact.size

    def append_audit(self, entries: Sequence[AuditEntry]) -> int:
        with self._write() as cursor:
            return self._append_leaves(cursor, entries)

    def audit_size(self) -> int:
        return int(self._query("SELECT size FROM audit_state WHERE id = 1")[0][0])

    def audit_state(self) -> tuple[int, list[bytes]]:
        size, blob = self._query("SELECT size, hashes FROM audit_state WHERE id = 1")[0]
        blob = _bytes(blob)
        return int(size), [blob[i : i + 32] for i in range(0, len(blob), 32)]

    def audit_leaves(self, start: int, end: int) -> list[AuditLeaf]:
        rows = self._query(
            "SELECT idx, event, item_id, data, leaf_hash FROM audit_leaves "
            "WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, end),
        )
        return [AuditLeaf(int(r[0]), r[1], r[2], _bytes(r[3]), _bytes(r[4])) for r in rows]

    def audit_subtrees(self, ranges: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        wanted = sorted(set(ranges))
        leaves: list[int] = []
        nodes: list[tuple[int, int]] = []
        for start, end in wanted:
            width = end - start
            if width <= 0 or width & (width - 1) or start % width:
                raise StoreError(f"[{start}, {end}) is not a perfect subtree of the audit log")
            if width == 1:
                leaves.append(start)
            else:
                nodes.append((width.bit_length() - 1, start // width))
        found: dict[tuple[int, int], bytes] = {}
        for chunk in _chunks(leaves, 400):
            marks = ", ".join("?" for _ in chunk)
            for idx, value in self._query(
                f"SELECT idx, leaf_hash FROM audit_leaves WHERE idx IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ):
                found[(int(idx), int(idx) + 1)] = _bytes(value)
        for chunk in _chunks(nodes, 200):
            terms = " OR ".join("(height = ? AND idx = ?)" for _ in chunk)
            params = [value for pair in chunk for value in pair]
            for height, idx, value in self._query(
                f"SELECT height, idx, hash FROM audit_nodes WHERE {terms}",  # noqa: S608 - placeholders only
                params,
            ):
                width = 1 << int(height)
                found[(int(idx) * width, (int(idx) + 1) * width)] = _bytes(value)
        return found

    def audit_node_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM audit_nodes")[0][0])

    def save_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self._write() as cursor:
            self._x(
                cursor,
                "INSERT INTO checkpoints (size, root, text) VALUES (?, ?, ?) "
                "ON CONFLICT (size) DO NOTHING",
                (checkpoint.size, checkpoint.root, checkpoint.text),
            )

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._query("SELECT size, root, text FROM checkpoints ORDER BY size")
        return [StoredCheckpoint(int(r[0]), _bytes(r[1]), r[2]) for r in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._query("SELECT size, root, text FROM checkpoints ORDER BY size DESC LIMIT 1")
        return StoredCheckpoint(int(rows[0][0]), bytes(rows[0][1]), rows[0][2]) if rows else None

    # ----- items ----------------------------------------------------------------------
    def _insert_item(self, cursor: Any, row: ItemRow) -> int:
        extent = row.extent or (None, None, None, None)
        self._x(
            cursor,
            "INSERT INTO items (id, kind, created, classification, originator_nation, topics, "
            "document, digest, min_lon, min_lat, max_lon, max_lat, supersedes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id,
                row.kind,
                row.created,
                row.classification,
                row.originator_nation,
                json.dumps(list(row.topics)),
                row.document,
                row.digest,
                *extent,
                row.supersedes,
            ),
        )
        seq = int(self._x(cursor, "SELECT seq FROM items WHERE id = ?", (row.id,)).fetchone()[0])
        for topic in sorted(set(row.topics)):
            self._x(cursor, "INSERT INTO item_topics (topic, seq) VALUES (?, ?)", (topic, seq))
        for digest in sorted(set(row.blobs)):
            self._x(cursor, "INSERT INTO item_blobs (sha256, seq) VALUES (?, ?)", (digest, seq))
        if row.stix_id is not None:
            self._x(
                cursor, "INSERT INTO item_stix_ids (stix_id, seq) VALUES (?, ?)", (row.stix_id, seq)
            )
        return seq

    def append_item(self, row: ItemRow, audit: AuditEntry) -> int:
        return self.append_items([(row, audit)])[0]

    def append_items(self, rows: Sequence[tuple[ItemRow, AuditEntry]]) -> list[int]:
        with self._write() as cursor:
            seqs = [self._insert_item(cursor, row) for row, _ in rows]
            self._append_leaves(cursor, [audit for _, audit in rows])
            return seqs

    def recall_item(self, target_id: str, row: ItemRow, audit: AuditEntry) -> int:
        with self._write() as cursor:
            found = self._x(
                cursor, "SELECT recalled_by FROM items WHERE id = ?", (target_id,)
            ).fetchone()
            if found is None:
                raise StoreError(f"no item {target_id} to recall")
            if found[0] is not None:
                raise StoreError(f"item {target_id} is already recalled")
            seq = self._insert_item(cursor, row)
            self._x(
                cursor,
                "UPDATE items SET document = NULL, recalled_by = ? WHERE id = ?",
                (row.id, target_id),
            )
            self._append_leaves(cursor, [audit])
            return seq

    def items_by_stix_id(self, stix_ids: Sequence[str]) -> list[tuple[str, StoredItem]]:
        wanted = sorted(set(stix_ids))
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        columns = ", ".join(f"i.{name.strip()}" for name in _ITEM_COLUMNS.split(","))
        rows = self._query(
            f"SELECT s.stix_id, {columns} FROM item_stix_ids s JOIN items i ON i.seq = s.seq "  # noqa: S608 - literals
            f"WHERE s.stix_id IN ({marks}) AND i.recalled_by IS NULL ORDER BY i.seq",
            wanted,
        )
        return [(row[0], _stored(row[1:])) for row in rows]

    def stix_versions_after(self, stix_id: str, after: int, limit: int) -> list[StoredItem]:
        """Up to *limit* items of STIX object *stix_id* after cursor *after*, in cursor
        order: a keyset walk of ``item_stix_ids (stix_id, seq)`` that examines at most
        *limit* rows. Recalled items are included (document None), so a caller paging with
        the last row as its cursor counts every row it was handed."""
        columns = ", ".join(f"i.{name.strip()}" for name in _ITEM_COLUMNS.split(","))
        rows = self._query(
            f"SELECT {columns} FROM item_stix_ids s JOIN items i ON i.seq = s.seq "  # noqa: S608 - literals
            "WHERE s.stix_id = ? AND s.seq > ? ORDER BY s.seq LIMIT ?",
            (stix_id, after, limit),
        )
        return [_stored(row) for row in rows]

    def get_item(self, item_id: str) -> StoredItem | None:
        rows = self._query(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))  # noqa: S608
        return _stored(rows[0]) if rows else None

    def read_after(
        self,
        cursor: int,
        limit: int,
        where: ItemFilter | None = None,
        *,
        include_recalled: bool = False,
    ) -> list[StoredItem]:
        clauses = ["seq > ?"]
        params: list[Any] = [cursor]
        if not include_recalled:
            clauses.append("recalled_by IS NULL")
        if where is not None:
            if where.kind is not None:
                clauses.append("kind = ?")
                params.append(where.kind)
            if where.since is not None:
                clauses.append("created >= ?")
                params.append(where.since)
            if where.bbox is not None:
                west, south, east, north = where.bbox
                clauses.append("min_lon <= ? AND max_lon >= ? AND min_lat <= ? AND max_lat >= ?")
                params.extend([east, west, north, south])
        if where is not None and where.topic is not None:
            return self._read_topic(cursor, limit, where.topic, clauses[1:], params[1:])
        params.append(limit)
        rows = self._query(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE {' AND '.join(clauses)} "  # noqa: S608 - clauses are literals
            "ORDER BY seq LIMIT ?",
            params,
        )
        return [_stored(row) for row in rows]

    def read_created_since(
        self, since: str, after: int, limit: int, kind: str
    ) -> list[StoredItem] | None:
        """The items of *kind* created at or after *since* with a cursor after *after*, in
        cursor order, recalled ones included, when no more than *limit* items of any kind
        were created at or after *since*; otherwise None. Examines at most *limit* + 1 rows
        of the ``items (created)`` index, so a poll for what is new costs the same on a
        collection of a million items as on an empty one."""
        recent = self._query(
            "SELECT seq FROM items WHERE created >= ? ORDER BY created LIMIT ?",
            (since, limit + 1),
        )
        if len(recent) > limit:
            return None
        wanted = sorted(int(row[0]) for row in recent if int(row[0]) > after)
        found: list[StoredItem] = []
        for chunk in _chunks(wanted, 400):
            marks = ", ".join("?" for _ in chunk)
            rows = self._query(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE seq IN ({marks}) AND kind = ? "  # noqa: S608 - literals
                "ORDER BY seq",
                [*chunk, kind],
            )
            found.extend(_stored(row) for row in rows)
        return found

    def _topics_under(self, topic: str) -> list[str]:
        """*topic* and every stored topic below it (``topic.…``), by a loose index scan of
        ``item_topics (topic, seq)``: one index probe per distinct topic."""
        column = self._bytewise("topic")
        inner = self._bytewise("t.topic")
        low, high = topic + ".", topic + "/"  # '/' follows '.' byte-wise
        rows = self._query(
            "WITH RECURSIVE under (topic) AS ("  # noqa: S608 - dialect literals only
            f"SELECT MIN({column}) FROM item_topics WHERE {column} > ? AND {column} < ? "
            f"UNION ALL SELECT (SELECT MIN({inner}) FROM item_topics t "
            f"WHERE {inner} > {self._bytewise('under.topic')} AND {inner} < ?) "
            "FROM under WHERE under.topic IS NOT NULL"
            ") SELECT topic FROM under WHERE topic IS NOT NULL",
            (low, high, high),
        )
        return [topic, *(str(row[0]) for row in rows)]

    def _read_topic(
        self, cursor: int, limit: int, topic: str, clauses: list[str], params: list[Any]
    ) -> list[StoredItem]:
        """``read_after`` under *topic*: a keyset walk of each matching topic's
        ``(topic, seq)`` index range, merged by cursor, stopping once *limit* rows pass the
        other *clauses*. Rows committed during the walk (beyond the head read first) are
        left for the next call, so paging never skips one."""
        head = self.head()
        topics = self._topics_under(topic)
        found: list[StoredItem] = []
        after = cursor
        while len(found) < limit and after < head:
            want = max(limit - len(found), 64)
            candidates: set[int] = set()
            frontier = head
            for name in topics:
                seqs = [
                    int(row[0])
                    for row in self._query(
                        "SELECT seq FROM item_topics WHERE topic = ? AND seq > ? AND seq <= ? "
                        "ORDER BY seq LIMIT ?",
                        (name, after, head, want),
                    )
                ]
                candidates.update(seqs)
                if len(seqs) == want:  # this topic has more: only seqs up to here are whole
                    frontier = min(frontier, seqs[-1])
            chosen = sorted(seq for seq in candidates if seq <= frontier)
            for chunk in _chunks(chosen, 400):
                marks = ", ".join("?" for _ in chunk)
                rows = self._query(
                    f"SELECT {_ITEM_COLUMNS} FROM items WHERE seq IN ({marks}) "  # noqa: S608 - literals
                    + "".join(f"AND {clause} " for clause in clauses)
                    + "ORDER BY seq",
                    [*chunk, *params],
                )
                found.extend(_stored(row) for row in rows)
            after = frontier
        return found[:limit]

    def head(self) -> int:
        rows = self._query("SELECT MAX(seq) FROM items")
        return int(rows[0][0] or 0)

    # ----- blobs ----------------------------------------------------------------------
    def put_blob(self, sha256: str, data: bytes) -> None:
        with self._write() as cursor:
            self._x(
                cursor,
                "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) "
                "ON CONFLICT (sha256) DO NOTHING",
                (sha256, len(data), data),
            )

    def items_citing(self, sha256: str) -> list[StoredItem]:
        rows = self._query(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE recalled_by IS NULL AND seq IN "  # noqa: S608
            "(SELECT seq FROM item_blobs WHERE sha256 = ?) ORDER BY seq",
            (sha256,),
        )
        return [_stored(row) for row in rows]

    def get_blob(self, sha256: str) -> bytes | None:
        rows = self._query("SELECT data FROM blobs WHERE sha256 = ?", (sha256,))
        return bytes(rows[0][0]) if rows else None

    # ----- users ----------------------------------------------------------------------
    def add_user(self, user: User) -> None:
        with self._write() as cursor:
            taken = self._x(cursor, "SELECT 1 FROM users WHERE name = ?", (user.name,)).fetchone()
            if taken:
                raise StoreError(f"user {user.name!r} already exists")
            self._x(
                cursor,
                "INSERT INTO users (name, nationality, clearance, roles, token_hash, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    user.name,
                    user.nationality,
                    user.clearance,
                    ",".join(user.roles),
                    user.token_hash,
                    datetime.now(UTC).isoformat(),
                ),
            )

    def user_by_token(self, token_hash: str) -> User | None:
        rows = self._query(
            "SELECT name, nationality, clearance, roles, token_hash FROM users "
            "WHERE token_hash = ?",
            (token_hash,),
        )
        return _user(rows[0]) if rows else None

    def remove_user(self, name: str) -> bool:
        with self._write() as cursor:
            return bool(self._x(cursor, "DELETE FROM users WHERE name = ?", (name,)).rowcount)

    def users(self) -> list[User]:
        rows = self._query(
            "SELECT name, nationality, clearance, roles, token_hash FROM users ORDER BY name"
        )
        return [_user(row) for row in rows]

    # ----- meta -----------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as cursor:
            self._x(
                cursor,
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def completed_subtrees(compact: CompactRange, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """The perfect subtrees (height, index, hash) that appending *leaf* to *compact*
    completes, lowest first (one per trailing set bit of its size); *compact* unchanged."""
    index = compact.size
    value = leaf
    done: list[tuple[int, int, bytes]] = []
    height = 0
    while (index >> height) & 1:
        value = node_hash(compact.hashes[-1 - height], value)
        height += 1
        done.append((height, index >> height, value))
    return done


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _stored(row: tuple[Any, ...]) -> StoredItem:
    return StoredItem(
        seq=int(row[0]),
        id=row[1],
        kind=row[2],
        created=row[3],
        classification=int(row[4]),
        originator_nation=row[5],
        topics=tuple(json.loads(row[6])),
        document=row[7],
        digest=row[8],
        supersedes=row[9],
        recalled_by=row[10],
    )


def _user(row: tuple[Any, ...]) -> User:
    roles = tuple(role for role in str(row[3]).split(",") if role)
    return User(row[0], row[1], int(row[2]), roles, row[4])


def _bytes(value: Any) -> bytes:
    """A BLOB column as bytes, even if a hand edit turned it into TEXT."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
