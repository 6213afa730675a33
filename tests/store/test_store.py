"""The same behaviour from both store backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from trilat.core.audit import CompactRange, node_hash
from trilat.core.errors import StoreError
from trilat.store import ItemFilter, ItemRow, Store, StoredCheckpoint, User, open_store
from trilat.store.auditlog import audit_entry, document_digest, verify_log

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_row(
    n: int,
    *,
    kind: str = "report",
    topics: tuple[str, ...] = ("dprk.missile",),
    extent: tuple[float, float, float, float] | None = None,
    classification: int = 2,
) -> ItemRow:
    item_id = str(uuid.UUID(int=n + 1, version=4))
    created = (T0 + timedelta(minutes=n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    document = json.dumps(
        {
            "id": item_id,
            "kind": kind,
            "created": created,
            "originator": {"node": "usa-1", "nation": "USA"},
            "topics": list(topics),
            "supersedes": None,
            "body": {"n": n},
        }
    )
    return ItemRow(
        id=item_id,
        kind=kind,
        created=created,
        classification=classification,
        originator_nation="USA",
        topics=topics,
        document=document,
        digest=document_digest(document),
        extent=extent,
    )


def accept(row: ItemRow) -> tuple[ItemRow, object]:
    return row, audit_entry("accept", at=T0, actor="test", item_id=row.id, digest=row.digest)


def add(store: Store, row: ItemRow) -> int:
    item, entry = accept(row)
    return store.append_item(item, entry)  # type: ignore[arg-type]


def raw_sql(store: Store, sql: str, params: tuple[object, ...] = ()) -> None:
    """Edit the database behind the store's back, as an intruder with SQL access would."""
    with store._write() as cursor:  # type: ignore[attr-defined]
        store._x(cursor, sql, params)  # type: ignore[attr-defined]


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, recursively, as the reference for the compact range."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return node_hash(naive_root(leaves[:split]), naive_root(leaves[split:]))


def test_items_come_back_in_insertion_order_with_increasing_cursors(store: Store) -> None:
    cursors = [add(store, make_row(n)) for n in range(5)]
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == 5
    assert store.head() == cursors[-1]
    page = store.read_after(0, 3)
    assert [item.seq for item in page] == cursors[:3]
    rest = store.read_after(page[-1].seq, 10)
    assert [item.seq for item in rest] == cursors[3:]
    held = store.get_item(make_row(2).id)
    assert held is not None
    assert held.document == make_row(2).document
    assert held.topics == ("dprk.missile",)
    assert held.classification == 2


def test_unknown_item_reads_as_none(store: Store) -> None:
    assert store.get_item(str(uuid.uuid4())) is None
    assert store.read_after(0, 10) == []
    assert store.head() == 0


def test_filters_match_kind_topic_prefix_extent_and_time(store: Store) -> None:
    add(store, make_row(0, kind="track", topics=("air.track",), extent=(130.0, 35.0, 130.0, 35.0)))
    add(store, make_row(1, kind="report", topics=("dprk.missile.warning",)))
    add(store, make_row(2, kind="report", topics=("dprkx",), extent=(10.0, 10.0, 11.0, 11.0)))
    add(store, make_row(3, kind="report", topics=("dprk",), extent=(129.0, 34.0, 131.0, 36.0)))

    def ids(where: ItemFilter) -> list[int]:
        return [json.loads(i.document or "{}")["body"]["n"] for i in store.read_after(0, 10, where)]

    assert ids(ItemFilter(kind="track")) == [0]
    assert ids(ItemFilter(topic="dprk")) == [1, 3]
    assert ids(ItemFilter(topic="dprk.missile")) == [1]
    assert ids(ItemFilter(bbox=(129.5, 34.5, 130.5, 35.5))) == [0, 3]
    assert ids(ItemFilter(since=make_row(2).created)) == [2, 3]
    assert ids(ItemFilter(kind="report", topic="dprk", bbox=(120.0, 30.0, 140.0, 40.0))) == [3]


def test_duplicate_item_is_refused_and_nothing_is_half_written(store: Store) -> None:
    add(store, make_row(0))
    size = store.audit_size()
    with pytest.raises(StoreError, match="refused"):
        add(store, make_row(0))
    assert store.audit_size() == size
    assert len(store.read_after(0, 10)) == 1


def test_a_failed_batch_leaves_neither_items_nor_leaves(store: Store) -> None:
    add(store, make_row(5))
    with pytest.raises(StoreError):
        store.append_items([accept(make_row(6)), accept(make_row(5))])  # type: ignore[list-item]
    assert store.get_item(make_row(6).id) is None
    assert store.audit_size() == 1


def test_recall_tombstones_the_item_and_keeps_its_audit_trail(store: Store) -> None:
    add(store, make_row(0))
    add(store, make_row(1))
    recall = make_row(2, kind="recall")
    store.recall_item(
        make_row(0).id,
        recall,
        audit_entry(
            "recall",
            at=T0,
            actor="op",
            item_id=recall.id,
            digest=recall.digest,
            target=make_row(0).id,
        ),
    )
    visible = [item.id for item in store.read_after(0, 10)]
    assert make_row(0).id not in visible
    assert make_row(1).id in visible
    tombstone = store.get_item(make_row(0).id)
    assert tombstone is not None
    assert tombstone.recalled
    assert tombstone.document is None
    events = [leaf.event for leaf in store.audit_leaves(0, store.audit_size())]
    assert events == ["accept", "accept", "recall"]
    with pytest.raises(StoreError, match="already recalled"):
        store.recall_item(
            make_row(0).id, make_row(3, kind="recall"), audit_entry("recall", at=T0, actor="op")
        )
    assert verify_log(store).ok


def test_audit_state_survives_reopening_and_matches_the_leaves(store_url: str) -> None:
    first = open_store(store_url)
    for n in range(7):
        add(first, make_row(n))
    first.append_audit([audit_entry("view", at=T0, actor="liaison", item_id=make_row(1).id)])
    size, hashes = first.audit_state()
    first.close()
    again = open_store(store_url)
    try:
        assert again.audit_state() == (size, hashes)
        assert size == 8
        leaves = [leaf.leaf_hash for leaf in again.audit_leaves(0, size)]
        assert CompactRange(size, hashes).root() == naive_root(leaves)
        add(again, make_row(9))
        assert again.audit_size() == 9
    finally:
        again.close()


def test_users_are_found_by_token_hash_and_names_are_unique(store: Store) -> None:
    user = User("kenji", "JPN", 2, ("liaison", "analyst"), "ab" * 32)
    store.add_user(user)
    assert store.user_by_token("ab" * 32) == user
    assert store.user_by_token("cd" * 32) is None
    with pytest.raises(StoreError, match="already exists"):
        store.add_user(User("kenji", "JPN", 1, ("public",), "ef" * 32))
    assert store.users() == [user]
    assert store.remove_user("kenji") is True
    assert store.user_by_token("ab" * 32) is None
    assert store.remove_user("kenji") is False


def test_blobs_are_stored_once_by_hash(store: Store) -> None:
    data = b"\x00briefing\xff" * 10
    digest = hashlib.sha256(data).hexdigest()
    store.put_blob(digest, data)
    store.put_blob(digest, data)
    assert store.get_blob(digest) == data
    assert store.get_blob("0" * 64) is None


def test_checkpoints_and_meta_round_trip(store: Store) -> None:
    add(store, make_row(0))
    root = CompactRange(*store.audit_state()).root()
    store.save_checkpoint(StoredCheckpoint(1, root, "origin\n1\nroot\n"))
    assert store.latest_checkpoint() == StoredCheckpoint(1, root, "origin\n1\nroot\n")
    store.set_meta("cursor_key", "a")
    store.set_meta("cursor_key", "b")
    assert store.get_meta("cursor_key") == "b"
    assert store.get_meta("nothing") is None
    assert verify_log(store).ok


def test_concurrent_writers_get_distinct_cursors_and_a_reader_misses_nothing(
    store: Store,
) -> None:
    per_thread, threads = 25, 4
    seen: list[int] = []
    done = threading.Event()

    def writer(offset: int) -> None:
        for n in range(per_thread):
            add(store, make_row(offset * 1000 + n))

    def reader() -> None:
        cursor = 0
        for _ in range(10_000):
            batch = store.read_after(cursor, 7)
            seen.extend(item.seq for item in batch)
            cursor = batch[-1].seq if batch else cursor
            if done.is_set() and not batch:
                return

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    follower = threading.Thread(target=reader)
    follower.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    done.set()
    follower.join(timeout=60)
    all_seqs = [item.seq for item in store.read_after(0, 1000)]
    assert len(all_seqs) == per_thread * threads
    assert seen == all_seqs
    assert verify_log(store).ok


def test_verify_names_an_altered_leaf(store: Store) -> None:
    for n in range(4):
        add(store, make_row(n))
    assert verify_log(store).ok
    tampered = store.audit_leaves(2, 3)[0].data.replace(b"test", b"evil")
    raw_sql(store, "UPDATE audit_leaves SET data = ? WHERE idx = 2", (tampered,))
    result = verify_log(store)
    assert result.problems == ["audit leaf 2 was altered (hash mismatch)"]


def test_verify_names_an_altered_item(store: Store) -> None:
    for n in range(3):
        add(store, make_row(n))
    victim = make_row(1)
    altered = victim.document.replace('"n": 1', '"n": 99')
    raw_sql(store, "UPDATE items SET document = ? WHERE id = ?", (altered, victim.id))
    result = verify_log(store)
    assert not result.ok
    assert result.problems[0].startswith(f"item {victim.id} was altered")


def test_verify_notices_a_deleted_item(store: Store) -> None:
    for n in range(3):
        add(store, make_row(n))
    raw_sql(store, "DELETE FROM items WHERE id = ?", (make_row(0).id,))
    assert verify_log(store).problems == [f"item {make_row(0).id} of audit leaf 0 is missing"]


def test_a_store_newer_than_the_code_is_refused(store_url: str) -> None:
    first = open_store(store_url)
    raw_sql(first, "INSERT INTO schema_migrations (version, applied) VALUES (99, 'x')")
    first.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(store_url)


def test_unknown_store_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="mysql"):
        open_store("mysql://localhost/x")


def test_verify_notices_an_item_hidden_without_a_recall(store: Store) -> None:
    add(store, make_row(0))
    raw_sql(
        store, "UPDATE items SET recalled_by = ? WHERE id = ?", (make_row(9).id, make_row(0).id)
    )
    assert verify_log(store).problems == [
        f"item {make_row(0).id} was hidden or emptied without a recall in the log"
    ]


def test_verify_notices_an_index_column_edited_away_from_its_envelope(store: Store) -> None:
    add(store, make_row(0))
    raw_sql(store, "UPDATE items SET kind = 'chat' WHERE id = ?", (make_row(0).id,))
    assert verify_log(store).problems == [
        f"item {make_row(0).id} was altered: its kind column differs from its envelope"
    ]
