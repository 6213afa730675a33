"""The SQL of federation: pinned peers, outbox cursors, pending items, received ids, nonces,
peers' checkpoints and the cosignatures peers returned of this node's own.

Exactly once rests on two tables written in the same transaction as the data they guard:
the receiver inserts an item, its ``accept`` leaf and its ``fed_received`` row together
(``receive``), so an acknowledged item is durable and a resent one is recognised; the
sender advances its per-peer cursor, its ``fed_delivered`` rows, its pending rows and the
release/deny leaves together (``advance``), so a crash either redoes a whole batch (the
receiver drops the duplicates) or none of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trilat.core.errors import StoreError
from trilat.store._sql import SqlStore
from trilat.store.base import AuditEntry, ItemRow, Store


@dataclass(frozen=True, slots=True)
class PeerRow:
    """A pinned node card: *link* peers are pushed to; others only verify signatures."""

    node_id: str
    nation: str
    url: str
    public_key: str
    key_id: str
    card: str
    link: bool


@dataclass(frozen=True, slots=True)
class Received:
    """An item to store on arrival, with the hop that brought it and its relay path."""

    row: ItemRow
    audit: AuditEntry
    sender: str
    path: tuple[str, ...]
    recall_of: str | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    peer: str
    seq: int
    item_id: str
    requires: str


@dataclass(frozen=True, slots=True)
class PeerCheckpoint:
    peer: str
    size: int
    root: bytes
    cosigned: str
    seen: str


@dataclass(frozen=True, slots=True)
class Alert:
    peer: str
    at: str
    kind: str
    detail: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FederationTables:
    """Federation reads and writes on a node store (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise StoreError(f"federation needs a SQL store, not {type(store).__name__}")
        self.store: SqlStore = store

    # ----- peers ------------------------------------------------------------------------
    def put_peer(self, peer: PeerRow) -> None:
        with self.store._write() as cursor:
            self.store._x(cursor, "DELETE FROM fed_peers WHERE node_id = ?", (peer.node_id,))
            self.store._x(
                cursor,
                "INSERT INTO fed_peers (node_id, nation, url, public_key, key_id, card, link, "
                "added) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    peer.node_id,
                    peer.nation,
                    peer.url,
                    peer.public_key,
                    peer.key_id,
                    peer.card,
                    1 if peer.link else 0,
                    _now(),
                ),
            )

    def peers(self) -> list[PeerRow]:
        rows = self.store._query(
            "SELECT node_id, nation, url, public_key, key_id, card, link FROM fed_peers "
            "ORDER BY node_id"
        )
        return [PeerRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    # ----- sender side ------------------------------------------------------------------
    def cursor(self, peer: str) -> int:
        rows = self.store._query("SELECT cursor FROM fed_outbox WHERE peer = ?", (peer,))
        return int(rows[0][0]) if rows else 0

    def cursors(self) -> dict[str, int]:
        rows = self.store._query("SELECT peer, cursor FROM fed_outbox")
        return {str(r[0]): int(r[1]) for r in rows}

    def advance(
        self,
        peer: str,
        cursor: int,
        *,
        delivered: Sequence[str] = (),
        pending: Sequence[Pending] = (),
        resolved: Sequence[int] = (),
        audit: Sequence[AuditEntry] = (),
    ) -> None:
        """Move *peer*'s cursor to *cursor* with everything the batch decided, atomically."""
        with self.store._write() as c:
            x = self.store._x
            x(
                c,
                "INSERT INTO fed_outbox (peer, cursor, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (peer) DO UPDATE SET cursor = excluded.cursor, "
                "updated = excluded.updated",
                (peer, cursor, _now()),
            )
            for item_id in delivered:
                x(
                    c,
                    "INSERT INTO fed_delivered (peer, item_id) VALUES (?, ?) "
                    "ON CONFLICT (peer, item_id) DO NOTHING",
                    (peer, item_id),
                )
            for seq in resolved:
                x(c, "DELETE FROM fed_pending WHERE peer = ? AND seq = ?", (peer, seq))
            for row in pending:
                x(
                    c,
                    "INSERT INTO fed_pending (peer, seq, item_id, requires) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (peer, seq) DO NOTHING",
                    (row.peer, row.seq, row.item_id, row.requires),
                )
            if audit:
                self.store._append_leaves(c, audit)

    def pending(self, peer: str, limit: int = 1000) -> list[Pending]:
        rows = self.store._query(
            "SELECT peer, seq, item_id, requires FROM fed_pending WHERE peer = ? "
            "ORDER BY seq LIMIT ?",
            (peer, limit),
        )
        return [Pending(r[0], int(r[1]), r[2], r[3]) for r in rows]

    def pending_count(self, peer: str) -> int:
        rows = self.store._query("SELECT COUNT(*) FROM fed_pending WHERE peer = ?", (peer,))
        return int(rows[0][0])

    def delivered_to(self, item_id: str) -> list[str]:
        rows = self.store._query(
            "SELECT peer FROM fed_delivered WHERE item_id = ? ORDER BY peer", (item_id,)
        )
        return [str(r[0]) for r in rows]

    def was_delivered(self, peer: str, item_id: str) -> bool:
        rows = self.store._query(
            "SELECT 1 FROM fed_delivered WHERE peer = ? AND item_id = ?", (peer, item_id)
        )
        return bool(rows)

    # ----- receiver side ----------------------------------------------------------------
    def known(self, item_ids: Sequence[str]) -> set[str]:
        """Which of *item_ids* this node already holds (received or originated)."""
        found: set[str] = set()
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = self.store._query(
                f"SELECT id FROM items WHERE id IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            )
            found.update(str(r[0]) for r in rows)
        return found

    def receive(self, batch: Sequence[Received], refusals: Sequence[AuditEntry] = ()) -> list[int]:
        """Store a batch of arrivals with their received-id rows and leaves in one commit.

        Items already present are skipped (a duplicate is acknowledged, never stored twice);
        returns the cursors of the rows inserted (0 for a skipped duplicate).
        """
        seqs: list[int] = []
        with self.store._write() as c:
            x = self.store._x
            leaves: list[AuditEntry] = []
            for received in batch:
                row = received.row
                if x(c, "SELECT 1 FROM items WHERE id = ?", (row.id,)).fetchone():
                    seqs.append(0)
                    continue
                seq = self.store._insert_item(c, row)
                if received.recall_of is not None:
                    x(
                        c,
                        "UPDATE items SET document = NULL, recalled_by = ? "
                        "WHERE id = ? AND recalled_by IS NULL",
                        (row.id, received.recall_of),
                    )
                x(
                    c,
                    "INSERT INTO fed_received (item_id, sender, path, received) "
                    "VALUES (?, ?, ?, ?)",
                    (row.id, received.sender, json.dumps(list(received.path)), _now()),
                )
                leaves.append(received.audit)
                seqs.append(seq)
            leaves.extend(refusals)
            if leaves:
                self.store._append_leaves(c, leaves)
        return seqs

    def path(self, item_id: str) -> tuple[str, ...] | None:
        rows = self.store._query("SELECT path FROM fed_received WHERE item_id = ?", (item_id,))
        return tuple(json.loads(rows[0][0])) if rows else None

    def paths(self, item_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = self.store._query(
                f"SELECT item_id, path FROM fed_received WHERE item_id IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update((str(r[0]), tuple(json.loads(r[1]))) for r in rows)
        return found

    def received_count(self) -> int:
        return int(self.store._query("SELECT COUNT(*) FROM fed_received")[0][0])

    def put_evidence(self, documents: dict[str, str]) -> None:
        """Keep signed consent items that came as evidence of a relay (not as items held)."""
        if not documents:
            return
        with self.store._write() as c:
            for item_id, document in documents.items():
                self.store._x(
                    c,
                    "INSERT INTO fed_evidence (item_id, document) VALUES (?, ?) "
                    "ON CONFLICT (item_id) DO NOTHING",
                    (item_id, document),
                )

    def evidence(self) -> list[str]:
        return [str(r[0]) for r in self.store._query("SELECT document FROM fed_evidence")]

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            self.store.append_audit(entries)

    # ----- request nonces ---------------------------------------------------------------
    def use_nonce(self, sender: str, nonce: str, seen: int, horizon: int) -> bool:
        """Record *nonce* of *sender*; False if it was already used (a replay).

        Nonces older than *horizon* (unix seconds) are forgotten: requests that old are
        refused on their timestamp anyway.
        """
        with self.store._write() as c:
            x = self.store._x
            if x(
                c, "SELECT 1 FROM fed_nonces WHERE sender = ? AND nonce = ?", (sender, nonce)
            ).fetchone():
                return False
            x(
                c,
                "INSERT INTO fed_nonces (sender, nonce, seen) VALUES (?, ?, ?)",
                (sender, nonce, seen),
            )
            x(c, "DELETE FROM fed_nonces WHERE seen < ?", (horizon,))
            return True

    # ----- checkpoints ------------------------------------------------------------------
    def last_checkpoint(self, peer: str) -> PeerCheckpoint | None:
        rows = self.store._query(
            "SELECT peer, size, root, cosigned, seen FROM fed_checkpoints WHERE peer = ? "
            "ORDER BY size DESC LIMIT 1",
            (peer,),
        )
        if not rows:
            return None
        r = rows[0]
        return PeerCheckpoint(r[0], int(r[1]), _bytes(r[2]), r[3], r[4])

    def put_checkpoint(self, checkpoint: PeerCheckpoint, audit: AuditEntry) -> None:
        with self.store._write() as c:
            self.store._x(
                c,
                "INSERT INTO fed_checkpoints (peer, size, root, cosigned, seen) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (peer, size) DO NOTHING",
                (
                    checkpoint.peer,
                    checkpoint.size,
                    checkpoint.root,
                    checkpoint.cosigned,
                    checkpoint.seen,
                ),
            )
            self.store._append_leaves(c, [audit])

    def put_witnessed(self, size: int, peer: str, note: str, cosigned: str) -> bool:
        """Keep *peer*'s cosignature of this node's checkpoint of *size* (*note* carries it;
        *cosigned* is its time); False if it was already kept. The note proves itself, so it
        takes no audit leaf (witnessing must not keep the log growing by itself)."""
        with self.store._write() as c:
            known = self.store._x(
                c, "SELECT 1 FROM fed_witnessed WHERE size = ? AND peer = ?", (size, peer)
            ).fetchone()
            if known is not None:
                return False
            self.store._x(
                c,
                "INSERT INTO fed_witnessed (size, peer, note, cosigned, received) "
                "VALUES (?, ?, ?, ?, ?)",
                (size, peer, note, cosigned, _now()),
            )
            return True

    def witnessed(self) -> list[tuple[str, int, str, str]]:
        """The latest cosignature each peer returned of this node's checkpoints: (peer,
        size, note, cosigned time), by peer."""
        rows = self.store._query(
            "SELECT w.peer, w.size, w.note, w.cosigned FROM fed_witnessed w "
            "JOIN (SELECT peer, MAX(size) AS size FROM fed_witnessed GROUP BY peer) m "
            "ON w.peer = m.peer AND w.size = m.size ORDER BY w.peer",
            (),
        )
        return [(r[0], int(r[1]), r[2], r[3]) for r in rows]

    def add_alert(self, alert: Alert, audit: AuditEntry | None = None) -> None:
        with self.store._write() as c:
            self.store._x(
                c,
                "INSERT INTO fed_alerts (peer, at, kind, detail) VALUES (?, ?, ?, ?)",
                (alert.peer, alert.at, alert.kind, alert.detail),
            )
            if audit is not None:
                self.store._append_leaves(c, [audit])

    def alerts(self, limit: int = 100) -> list[Alert]:
        rows = self.store._query(
            "SELECT peer, at, kind, detail FROM fed_alerts ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [Alert(r[0], r[1], r[2], r[3]) for r in rows]


def _bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
