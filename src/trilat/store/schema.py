"""The SQL tables of a node store, as numbered migrations per dialect.

``schema_migrations`` records each applied version; opening a store applies the missing
ones in order inside one transaction. A store written by a newer trilat is refused.
"""

from __future__ import annotations

from typing import Final

_COMMON_V1: Final = """
CREATE TABLE item_topics (
    topic TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (topic, seq)
);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    nationality TEXT NOT NULL,
    clearance INTEGER NOT NULL,
    roles TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE audit_leaves (
    idx BIGINT PRIMARY KEY,
    event TEXT NOT NULL,
    item_id TEXT,
    data {blob} NOT NULL,
    leaf_hash {blob} NOT NULL
);
CREATE INDEX audit_leaves_item ON audit_leaves (item_id);
CREATE TABLE audit_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    hashes {blob} NOT NULL
);
INSERT INTO audit_state (id, size, hashes) VALUES (1, 0, {empty_blob});
CREATE TABLE checkpoints (
    size BIGINT PRIMARY KEY,
    root {blob} NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    data {blob} NOT NULL
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE INDEX items_kind ON items (kind, seq);
CREATE INDEX items_created ON items (created);
CREATE INDEX items_extent ON items (min_lon, max_lon, min_lat, max_lat);
"""

_ITEMS: Final = """
CREATE TABLE items (
    seq {seq},
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    classification INTEGER NOT NULL,
    originator_nation TEXT NOT NULL,
    topics TEXT NOT NULL,
    document TEXT,
    digest TEXT NOT NULL,
    min_lon DOUBLE PRECISION,
    min_lat DOUBLE PRECISION,
    max_lon DOUBLE PRECISION,
    max_lat DOUBLE PRECISION,
    supersedes TEXT,
    recalled_by TEXT
);
"""

_FEDERATION_V2: Final = """
CREATE TABLE fed_peers (
    node_id TEXT PRIMARY KEY,
    nation TEXT NOT NULL,
    url TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_id TEXT NOT NULL,
    card TEXT NOT NULL,
    link INTEGER NOT NULL,
    added TEXT NOT NULL
);
CREATE TABLE fed_outbox (
    peer TEXT PRIMARY KEY,
    cursor BIGINT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE fed_pending (
    peer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    item_id TEXT NOT NULL,
    requires TEXT NOT NULL,
    PRIMARY KEY (peer, seq)
);
CREATE TABLE fed_delivered (
    peer TEXT NOT NULL,
    item_id TEXT NOT NULL,
    PRIMARY KEY (peer, item_id)
);
CREATE TABLE fed_received (
    item_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    path TEXT NOT NULL,
    received TEXT NOT NULL
);
CREATE TABLE fed_evidence (
    item_id TEXT PRIMARY KEY,
    document TEXT NOT NULL
);
CREATE TABLE fed_nonces (
    sender TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen BIGINT NOT NULL,
    PRIMARY KEY (sender, nonce)
);
CREATE INDEX fed_nonces_seen ON fed_nonces (seen);
CREATE TABLE fed_checkpoints (
    peer TEXT NOT NULL,
    size BIGINT NOT NULL,
    root {blob} NOT NULL,
    cosigned TEXT NOT NULL,
    seen TEXT NOT NULL,
    PRIMARY KEY (peer, size)
);
CREATE TABLE fed_alerts (
    id {seq},
    peer TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
)
"""
"""Federation (v2): pinned peers, per-peer outbox cursors and consent-pending items, the
permanent received-id table with relay paths, request nonces, peers' checkpoints."""

_ITEM_BLOBS_V3: Final = """
CREATE TABLE item_blobs (
    sha256 TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (sha256, seq)
)
"""
"""Document citations (v3): which items cite which blob, so a download is checked
against the items its caller may see."""

_AUDIT_NODES_V4: Final = """
CREATE TABLE audit_nodes (
    height INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash {blob} NOT NULL,
    PRIMARY KEY (height, idx)
)
"""
"""Interior Merkle hashes (v4): the root of every complete perfect subtree of the audit
log, leaves ``[idx * 2**height, (idx + 1) * 2**height)``, height ≥ 1 (height 0 is
``audit_leaves.leaf_hash``). Written in the transaction that appends the completing leaf,
so any subtree of a proof is one lookup. Existing logs are filled in when it is applied."""

_TOPIC_BYTES_V4_POSTGRES: Final = """;
CREATE INDEX item_topics_bytes ON item_topics ((topic COLLATE "C"), seq)
"""
"""PostgreSQL compares topic prefixes byte-wise whatever the database collation; this
index serves those range scans (SQLite's default collation is already byte-wise)."""

_STIX_IDS_V5: Final = """
CREATE TABLE item_stix_ids (
    stix_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (stix_id, seq)
);
INSERT INTO item_stix_ids (stix_id, seq)
SELECT {stix_id}, seq FROM items
WHERE kind = 'indicator' AND document IS NOT NULL AND {filled}
"""
"""STIX object ids of indicator items (v5), so that TAXII finds every version of an object
with one index probe instead of holding a map of the collection in memory. Written with the
item; existing items are filled in from their documents when it is applied."""

_WITNESSED_V6: Final = """
CREATE TABLE fed_witnessed (
    size BIGINT NOT NULL,
    peer TEXT NOT NULL,
    note TEXT NOT NULL,
    cosigned TEXT NOT NULL,
    received TEXT NOT NULL,
    PRIMARY KEY (size, peer)
)
"""
"""Cosignatures of this node's own checkpoints (v6), as the peers that made them sent them
back: the checkpoint note with the peer's cosignature line, verified before it is kept."""

AUDIT_NODES_VERSION: Final = 4
"""The migration after which ``audit_nodes`` must be filled in from the existing leaves."""

SQLITE_MIGRATIONS: Final[tuple[str, ...]] = (
    _ITEMS.format(seq="INTEGER PRIMARY KEY AUTOINCREMENT")
    + _COMMON_V1.format(blob="BLOB", empty_blob="X''"),
    _FEDERATION_V2.format(blob="BLOB", seq="INTEGER PRIMARY KEY AUTOINCREMENT"),
    _ITEM_BLOBS_V3,
    _AUDIT_NODES_V4.format(blob="BLOB"),
    _STIX_IDS_V5.format(
        stix_id="json_extract(document, '$.body.id')",
        filled="json_valid(document) AND json_type(document, '$.body.id') = 'text'",
    ),
    _WITNESSED_V6,
)

POSTGRES_MIGRATIONS: Final[tuple[str, ...]] = (
    _ITEMS.format(seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
    + _COMMON_V1.format(blob="BYTEA", empty_blob="''::bytea"),
    _FEDERATION_V2.format(blob="BYTEA", seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    _ITEM_BLOBS_V3,
    _AUDIT_NODES_V4.format(blob="BYTEA") + _TOPIC_BYTES_V4_POSTGRES,
    _STIX_IDS_V5.format(
        stix_id="(document::json) -> 'body' ->> 'id'",
        filled="strpos(document, '\\u0000') = 0 "
        "AND json_typeof((document::json) -> 'body' -> 'id') = 'string'",
    ),
    _WITNESSED_V6,
)

MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied TEXT NOT NULL
)
"""


def statements(script: str) -> list[str]:
    """Split a migration into its statements (no semicolons inside our literals)."""
    return [part.strip() for part in script.split(";") if part.strip()]
