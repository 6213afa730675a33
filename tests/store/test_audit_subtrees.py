"""Interior Merkle hashes kept beside the audit leaves: proofs without reading every leaf."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.store.test_store import naive_root, raw_sql
from trilat.core import audit
from trilat.core.audit import leaf_hash, verify_inclusion
from trilat.core.errors import AuditError, StoreError
from trilat.store import Store, open_store
from trilat.store.auditlog import (
    audit_entry,
    from_stored_subtrees,
    perfect_ranges,
    root_at,
    verify_log,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SIZES = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100)


def grow(store: Store, to: int) -> None:
    have = store.audit_size()
    entries = [audit_entry("view", at=T0, actor=f"user{n}") for n in range(have, to)]
    if entries:
        store.append_audit(entries)


def leaf_hashes(store: Store, size: int) -> list[bytes]:
    return [leaf.leaf_hash for leaf in store.audit_leaves(0, size)]


def test_every_complete_subtree_is_one_stored_hash_equal_to_the_leaves_root(store: Store) -> None:
    grow(store, 37)
    hashes = leaf_hashes(store, 37)
    wanted = [
        (index << height, (index + 1) << height)
        for height in range(6)
        for index in range(37 >> height)
    ]
    found = store.audit_subtrees(wanted)
    assert set(found) == set(wanted)
    for start, end in wanted:
        assert found[(start, end)] == naive_root(hashes[start:end]), (start, end)
    assert store.audit_node_count() == 37 - (37).bit_count()
    # a subtree the log has not completed yet is simply absent
    assert (32, 64) not in store.audit_subtrees([(32, 64)])
    with pytest.raises(StoreError, match="not a perfect subtree"):
        store.audit_subtrees([(1, 3)])


def test_inclusion_proofs_from_stored_subtrees_verify_at_many_sizes(store: Store) -> None:
    for size in SIZES:
        grow(store, size)
        hashes = leaf_hashes(store, size)
        root = naive_root(hashes)
        for index in sorted({0, size // 2, size - 1}):
            found = store.audit_subtrees([(index, index + 1)])
            hash_range = _stored_hasher(store)
            proof = audit.inclusion_proof(index, size, hash_range)
            assert proof == audit.inclusion_proof(index, size, audit.subtree_hasher(hashes))
            verify_inclusion(index, size, found[(index, index + 1)], proof, root)


def test_consistency_proofs_from_stored_subtrees_match_the_leaves_and_verify(
    store: Store,
) -> None:
    grow(store, SIZES[-1])
    hashes = leaf_hashes(store, SIZES[-1])
    for new in SIZES:
        for old in sorted({1, new // 3, new - 1, new} - {0}):
            proof = from_stored_subtrees(
                store, lambda h, old=old, new=new: audit.consistency_proof(old, new, h)
            )
            assert proof == audit.consistency_proof(old, new, audit.subtree_hasher(hashes[:new]))
            audit.verify_consistency(
                old, new, naive_root(hashes[:old]), naive_root(hashes[:new]), proof
            )
    with pytest.raises(AuditError, match="not stored"):  # beyond the log: never made up
        from_stored_subtrees(store, lambda h: audit.consistency_proof(50, 200, h))


def test_the_root_at_any_past_size_is_the_root_of_its_leaves(store: Store) -> None:
    grow(store, 40)
    hashes = leaf_hashes(store, 40)
    for size in (1, 2, 3, 17, 32, 39, 40):
        assert root_at(store, size) == naive_root(hashes[:size])
    with pytest.raises(AuditError):
        root_at(store, 41)


def test_a_log_written_before_the_subtree_table_is_filled_in_on_upgrade(store_url: str) -> None:
    store = open_store(store_url)
    grow(store, 21)
    hashes = leaf_hashes(store, 21)
    # roll the store back to schema v3, as a node of the previous release left it
    raw_sql(store, "DROP TABLE audit_nodes")
    if store_url.startswith("postgres"):
        raw_sql(store, "DROP INDEX item_topics_bytes")
    raw_sql(store, "DELETE FROM schema_migrations WHERE version = 4")
    store.close()
    upgraded = open_store(store_url)
    try:
        assert upgraded.audit_node_count() == 21 - (21).bit_count()
        found = upgraded.audit_subtrees(perfect_ranges(21))
        assert [found[r] for r in perfect_ranges(21)] == [
            naive_root(hashes[a:b]) for a, b in perfect_ranges(21)
        ]
        assert verify_log(upgraded).ok
    finally:
        upgraded.close()


def test_verify_names_an_altered_subtree_hash(store: Store) -> None:
    grow(store, 12)
    assert verify_log(store).ok
    raw_sql(store, "UPDATE audit_nodes SET hash = ? WHERE height = 2 AND idx = 1", (bytes(32),))
    assert verify_log(store).problems == [
        "audit subtree hash of leaves [4, 8) was altered or is missing"
    ]


def test_verify_notices_a_deleted_or_invented_subtree_hash(store: Store) -> None:
    grow(store, 12)
    raw_sql(store, "DELETE FROM audit_nodes WHERE height = 1 AND idx = 5")
    assert verify_log(store).problems == [
        "audit subtree hash of leaves [10, 12) was altered or is missing"
    ]
    raw_sql(
        store,
        "INSERT INTO audit_nodes (height, idx, hash) VALUES (1, 5, ?)",
        (audit.node_hash(*leaf_hashes(store, 12)[10:12]),),
    )
    assert verify_log(store).ok
    raw_sql(store, "INSERT INTO audit_nodes (height, idx, hash) VALUES (3, 7, ?)", (bytes(32),))
    assert not verify_log(store).ok


def test_a_forged_leaf_with_a_matching_leaf_hash_still_breaks_its_subtrees(store: Store) -> None:
    grow(store, 8)
    forged = store.audit_leaves(5, 6)[0].data.replace(b"user5", b"eve00")
    raw_sql(
        store,
        "UPDATE audit_leaves SET data = ?, leaf_hash = ? WHERE idx = 5",
        (forged, leaf_hash(forged)),
    )
    problems = verify_log(store).problems
    assert problems == ["audit subtree hash of leaves [4, 6) was altered or is missing"]


def _stored_hasher(store: Store) -> audit.HashRange:
    def hash_range(start: int, end: int) -> bytes:
        return store.audit_subtrees([(start, end)])[(start, end)]

    return hash_range
