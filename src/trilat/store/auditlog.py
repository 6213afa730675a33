"""The audit leaves a node writes, and the check that its stored log is untampered.

A leaf is the RFC 8785 canonical JSON of ``{"event", "item", "at", "actor", ...}``; an
``accept`` leaf carries the SHA-256 ``digest`` of the envelope document, so the log proves
what was accepted without holding the body (a recall may delete the body; the leaf stays).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from trilat.core import audit
from trilat.core.audit import CompactRange, leaf_hash
from trilat.core.canonical import canonical_json
from trilat.core.errors import AuditError
from trilat.store._sql import completed_subtrees
from trilat.store.base import AuditEntry, Store, StoredCheckpoint, StoredItem


def document_digest(document: str) -> str:
    """Hex SHA-256 of the canonical JSON of an envelope document (given as JSON text)."""
    return hashlib.sha256(canonical_json(json.loads(document))).hexdigest()


def audit_entry(
    event: str,
    *,
    at: datetime,
    actor: str,
    item_id: str | None = None,
    peer: str | None = None,
    decision: str | None = None,
    **detail: audit.Detail,
) -> AuditEntry:
    """A leaf for *event* by *actor* at *at*; *detail* holds ids, nations, rules (no bodies).

    The leaf data is ``core.audit.encode_entry`` of the entry (RFC 8785 canonical JSON).
    """
    entry = audit.AuditEntry(
        event=event,
        at=at,
        actor=actor,
        item=item_id,
        peer=peer,
        decision=decision,
        detail={key: value for key, value in detail.items() if value is not None},
    )
    return AuditEntry(event, item_id, audit.encode_entry(entry))


@dataclass
class Verification:
    """The outcome of ``verify_log``: ``problems`` is empty when the log is intact."""

    leaves: int = 0
    items: int = 0
    checkpoints: int = 0
    root: bytes = b""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_NODE_BATCH: Final = 2000

ITEM_EVENTS: Final = frozenset({"accept", "consent", "recall"})
"""Events whose leaf records a new item of the node (with its digest)."""

CheckpointCheck = Callable[[StoredCheckpoint], None]
"""Raises (AuditError, SignatureError) unless a stored checkpoint's signature verifies."""


def _leaves(store: Store, size: int, batch: int = 5000) -> Iterator[Any]:
    for start in range(0, size, batch):
        yield from store.audit_leaves(start, min(size, start + batch))


ItemCheck = Callable[[StoredItem], None]
"""Raises unless a held item is sound beyond its digest (for example its signature)."""


def verify_log(
    store: Store,
    check_checkpoint: CheckpointCheck | None = None,
    check_item: ItemCheck | None = None,
) -> Verification:
    """Recompute every leaf hash and the tree; check checkpoints and every item's digest.

    Each problem names the first bad leaf index or item id it found.
    """
    result = Verification()
    size, hashes = store.audit_state()
    checkpoints = {checkpoint.size: checkpoint for checkpoint in store.checkpoints()}
    accepted: dict[str, tuple[int, str]] = {}
    recalled: dict[str, int] = {}
    compact = CompactRange()
    expected: dict[tuple[int, int], bytes] = {}
    for leaf in _leaves(store, size):
        if leaf.index != compact.size:
            result.problems.append(f"audit leaf {compact.size} is missing")
            return result
        if leaf_hash(leaf.data) != leaf.leaf_hash:
            result.problems.append(f"audit leaf {leaf.index} was altered (hash mismatch)")
            return result
        try:
            document = json.loads(leaf.data)
        except ValueError:
            result.problems.append(f"audit leaf {leaf.index} is not JSON")
            return result
        if document.get("event") != leaf.event or document.get("item") != leaf.item_id:
            result.problems.append(f"audit leaf {leaf.index} columns disagree with its data")
            return result
        if leaf.event in ITEM_EVENTS and leaf.item_id is not None and "digest" in document:
            accepted[leaf.item_id] = (leaf.index, str(document.get("digest")))
        if leaf.event == "recall" and isinstance(document.get("target"), str):
            recalled[document["target"]] = leaf.index
        for height, position, value in completed_subtrees(compact, leaf.leaf_hash):
            expected[(position << height, (position + 1) << height)] = value
        if len(expected) >= _NODE_BATCH:
            problem = _check_subtrees(store, expected)
            if problem:
                result.problems.append(problem)
                return result
        compact.append(leaf.leaf_hash)
        checkpoint = checkpoints.get(compact.size)
        if checkpoint is not None:
            if checkpoint.root != compact.root():
                result.problems.append(
                    f"checkpoint at size {checkpoint.size} does not match the leaves "
                    f"(first bad leaf is at or before {leaf.index})"
                )
                return result
    problem = _check_subtrees(store, expected)
    if problem is None and store.audit_node_count() != compact.size - compact.size.bit_count():
        problem = "stored audit subtree hashes do not match the leaves (extra rows)"
    if problem:
        result.problems.append(problem)
        return result
    result.leaves = compact.size
    result.root = compact.root()
    if compact.size != size or compact.hashes != hashes:
        result.problems.append(f"stored Merkle state disagrees with the {compact.size} leaves")
        return result
    for checkpoint in checkpoints.values():
        if checkpoint.size > size:
            result.problems.append(f"checkpoint at size {checkpoint.size} is beyond the log")
            return result
        if check_checkpoint is not None:
            try:
                check_checkpoint(checkpoint)
            except Exception as exc:  # any failure of the check is a verification problem
                result.problems.append(f"checkpoint at size {checkpoint.size}: {exc}")
                return result
        result.checkpoints += 1
    seen: set[str] = set()
    cursor = 0
    while True:
        batch = store.read_after(cursor, 5000, include_recalled=True)
        if not batch:
            break
        for item in batch:
            cursor = item.seq
            seen.add(item.id)
            result.items += 1
            leaf_info = accepted.get(item.id)
            if leaf_info is None:
                result.problems.append(f"item {item.id} has no accept leaf in the audit log")
                return result
            if item.document is None or item.recalled_by is not None:
                if item.id not in recalled:  # a tombstone needs its recall leaf
                    result.problems.append(
                        f"item {item.id} was hidden or emptied without a recall in the log"
                    )
                    return result
                continue  # recalled: the tombstone keeps only the digest
            if document_digest(item.document) != leaf_info[1] or item.digest != leaf_info[1]:
                result.problems.append(
                    f"item {item.id} was altered: it differs from audit leaf {leaf_info[0]}"
                )
                return result
            if check_item is not None:
                try:
                    check_item(item)
                except Exception as exc:  # any failure of the check is a verification problem
                    result.problems.append(f"item {item.id}: {exc}")
                    return result
            column = _index_mismatch(item)
            if column is not None:
                result.problems.append(
                    f"item {item.id} was altered: its {column} column differs from its envelope"
                )
                return result
    for item_id, (index, _) in accepted.items():
        if item_id not in seen:
            result.problems.append(f"item {item_id} of audit leaf {index} is missing")
            return result
    return result


T = TypeVar("T")


def from_stored_subtrees(store: Store, compute: Callable[[audit.HashRange], T]) -> T:
    """Run *compute* (a proof or a root over the log's hashes) on subtree hashes read from
    the store in one query, whatever the log's size: a first run with placeholder hashes
    records which perfect subtrees it needs (which ones depends on sizes, never on hashes).
    """
    wanted: list[tuple[int, int]] = []

    def note(start: int, end: int) -> bytes:
        wanted.append((start, end))
        return bytes(audit.HASH_SIZE)

    compute(note)
    found = store.audit_subtrees(wanted)
    for start, end in wanted:
        if (start, end) not in found:
            raise AuditError(f"audit subtree [{start}, {end}) is not stored")
    return compute(lambda start, end: found[(start, end)])


def perfect_ranges(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees that make up a log of *size* leaves, largest (leftmost) first."""
    ranges: list[tuple[int, int]] = []
    start = 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            ranges.append((start, start + (1 << height)))
            start += 1 << height
    return ranges


def root_at(store: Store, size: int) -> bytes:
    """The root of the node's audit log when it had *size* leaves (AuditError beyond it)."""
    return from_stored_subtrees(
        store,
        lambda hashes: CompactRange(size, [hashes(a, b) for a, b in perfect_ranges(size)]).root(),
    )


def _check_subtrees(store: Store, expected: dict[tuple[int, int], bytes]) -> str | None:
    """Compare the stored interior hashes with those recomputed from the leaves (then
    forget them); the first disagreement as a sentence."""
    stored = store.audit_subtrees(list(expected))
    problem = None
    narrowest_first = sorted(expected.items(), key=lambda kv: (kv[0][1] - kv[0][0], kv[0][0]))
    for (start, end), value in narrowest_first:
        if stored.get((start, end)) != value:
            problem = f"audit subtree hash of leaves [{start}, {end}) was altered or is missing"
            break
    expected.clear()
    return problem


def _index_mismatch(item: StoredItem) -> str | None:
    """The first indexed column of *item* that disagrees with its envelope document."""
    document = json.loads(item.document or "{}")
    expected = {
        "id": document.get("id"),
        "kind": document.get("kind"),
        "created": document.get("created"),
        "originator_nation": (document.get("originator") or {}).get("nation"),
        "topics": tuple(document.get("topics") or ()),
        "supersedes": document.get("supersedes"),
    }
    for column, value in expected.items():
        if getattr(item, column) != value:
            return column
    return None
