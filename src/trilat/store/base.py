"""The Store protocol and the plain records it reads and writes.

A store holds items (the envelope document as JSON text plus indexed columns), document
blobs by SHA-256, users, and the audit log (leaves, the compact Merkle state and signed
checkpoints). Every write commits before it returns: a caller may acknowledge as soon as
a method comes back. Cursors are the insertion sequence: strictly increasing, in commit
order, so a reader paging with ``after`` never misses an item inserted concurrently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item as the store indexes it; ``document`` is the envelope's JSON text."""

    id: str
    kind: str
    created: str
    classification: int
    originator_nation: str
    topics: tuple[str, ...]
    document: str
    digest: str
    extent: tuple[float, float, float, float] | None = None
    supersedes: str | None = None
    blobs: tuple[str, ...] = ()
    stix_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item read back: its cursor, indexed columns and document (None once recalled)."""

    seq: int
    id: str
    kind: str
    created: str
    classification: int
    originator_nation: str
    topics: tuple[str, ...]
    document: str | None
    digest: str
    supersedes: str | None
    recalled_by: str | None

    @property
    def recalled(self) -> bool:
        return self.recalled_by is not None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """The canonical bytes of one audit leaf (what is hashed) and its event name."""

    event: str
    item_id: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class AuditLeaf:
    index: int
    event: str
    item_id: str | None
    data: bytes
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    text: str


@dataclass(frozen=True, slots=True)
class User:
    name: str
    nationality: str
    clearance: int
    roles: tuple[str, ...]
    token_hash: str


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Narrowing of ``read_after``; every member is optional."""

    kind: str | None = None
    topic: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    since: str | None = None


class Store(Protocol):
    """What the node needs from a database; SQLite and PostgreSQL implement it."""

    url: str

    def append_item(self, row: ItemRow, audit: AuditEntry) -> int:
        """Insert *row* and its ``accept`` leaf in one transaction; return its cursor."""
        ...

    def append_items(self, rows: Sequence[tuple[ItemRow, AuditEntry]]) -> list[int]:
        """Insert a batch atomically; return their cursors in order."""
        ...

    def recall_item(self, target_id: str, row: ItemRow, audit: AuditEntry) -> int:
        """Insert the recall item *row*, tombstone *target_id*; one transaction."""
        ...

    def append_audit(self, entries: Sequence[AuditEntry]) -> int:
        """Append leaves that concern no new item (view, refusal...); return the new size."""
        ...

    def get_item(self, item_id: str) -> StoredItem | None: ...

    def read_after(
        self,
        cursor: int,
        limit: int,
        where: ItemFilter | None = None,
        *,
        include_recalled: bool = False,
    ) -> list[StoredItem]: ...

    def head(self) -> int:
        """The highest cursor handed out (0 when empty)."""
        ...

    def items_by_stix_id(self, stix_ids: Sequence[str]) -> list[tuple[str, StoredItem]]:
        """The live (not recalled) items whose STIX object id is one of *stix_ids*, each
        with that id, in cursor order (every version of those objects)."""
        ...

    def read_created_since(
        self, since: str, after: int, limit: int, kind: str
    ) -> list[StoredItem] | None:
        """Items of *kind* created at or after *since* (cursor > *after*, recalled ones
        included) when at most *limit* items were created since then, else None; bounded."""
        ...

    def stix_versions_after(self, stix_id: str, after: int, limit: int) -> list[StoredItem]:
        """Up to *limit* items of STIX object *stix_id* after cursor *after*, recalled ones
        included, in cursor order; examines at most *limit* rows."""
        ...

    def put_blob(self, sha256: str, data: bytes) -> None: ...

    def items_citing(self, sha256: str) -> list[StoredItem]:
        """The held (not recalled) items that cite blob *sha256*."""
        ...

    def get_blob(self, sha256: str) -> bytes | None: ...

    def add_user(self, user: User) -> None: ...

    def user_by_token(self, token_hash: str) -> User | None: ...

    def remove_user(self, name: str) -> bool:
        """Delete a user (their token stops working at once); False if there was none."""
        ...

    def users(self) -> list[User]: ...

    def audit_size(self) -> int: ...

    def audit_leaves(self, start: int, end: int) -> list[AuditLeaf]: ...

    def audit_state(self) -> tuple[int, list[bytes]]:
        """The persisted compact Merkle range: (size, hashes)."""
        ...

    def audit_subtrees(self, ranges: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of perfect subtrees ``[start, end)`` of the log (a leaf hash
        when the width is 1), one lookup each; a range not (yet) in the log is left out."""
        ...

    def audit_node_count(self) -> int:
        """How many interior subtree hashes the store holds (``size - popcount(size)``)."""
        ...

    def save_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...

    def checkpoints(self) -> list[StoredCheckpoint]: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
