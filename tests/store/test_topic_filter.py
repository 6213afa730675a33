"""The topic filter walks the (topic, seq) index by cursor and stops at the limit."""

from __future__ import annotations

import pytest

from tests.store.test_store import add, make_row, raw_sql
from trilat.store import ItemFilter, Store

TOPICS = (
    ("dprk",),
    ("dprk.missile",),
    ("dprk.missile.warning", "public"),
    ("dprkx",),  # shares the letters but is not below "dprk"
    ("dprk-ops",),
    ("public",),
    ("dprk.missile", "dprk.maritime"),  # two topics under the prefix: listed once
    ("dprk.maritime.ais",),
)


def _under(topics: tuple[str, ...], prefix: str) -> bool:
    return any(t == prefix or t.startswith(prefix + ".") for t in topics)


def _page_all(store: Store, prefix: str, limit: int, where: ItemFilter | None = None) -> list[int]:
    where = where or ItemFilter(topic=prefix)
    seen: list[int] = []
    cursor = 0
    for _ in range(1000):
        batch = store.read_after(cursor, limit, where)
        assert len(batch) <= limit
        if not batch:
            return seen
        seen.extend(item.seq for item in batch)
        cursor = batch[-1].seq
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_paging_by_topic_returns_each_matching_item_once_in_cursor_order(
    store: Store, limit: int
) -> None:
    seqs = {add(store, make_row(n, topics=TOPICS[n % len(TOPICS)])): n for n in range(40)}
    for prefix in ("dprk", "dprk.missile", "public", "dprk.maritime", "nothing"):
        expected = [s for s, n in seqs.items() if _under(TOPICS[n % len(TOPICS)], prefix)]
        assert _page_all(store, prefix, limit) == sorted(expected), prefix


def test_paging_by_topic_misses_nothing_inserted_between_pages(store: Store) -> None:
    expected: list[int] = []
    seen: list[int] = []
    cursor = 0
    n = 0
    for round_ in range(30):
        for _ in range(round_ % 4):  # inserts between pages, some matching
            topics = TOPICS[n % len(TOPICS)]
            seq = add(store, make_row(n, topics=topics))
            if _under(topics, "dprk"):
                expected.append(seq)
            n += 1
        batch = store.read_after(cursor, 2, ItemFilter(topic="dprk"))
        seen.extend(item.seq for item in batch)
        if batch:
            cursor = batch[-1].seq
    seen.extend(_page_all_after(store, cursor))
    assert seen == expected


def _page_all_after(store: Store, cursor: int) -> list[int]:
    rest: list[int] = []
    for _ in range(1000):
        batch = store.read_after(cursor, 3, ItemFilter(topic="dprk"))
        if not batch:
            return rest
        rest.extend(item.seq for item in batch)
        cursor = batch[-1].seq
    raise AssertionError("paging did not end")


def test_topic_filter_combines_with_kind_and_skips_recalled_rows(store: Store) -> None:
    seqs = [
        add(store, make_row(n, kind="report" if n % 3 else "bulletin", topics=("dprk.missile",)))
        for n in range(30)
    ]
    raw_sql(store, "UPDATE items SET recalled_by = 'x' WHERE seq = ?", (seqs[4],))
    where = ItemFilter(topic="dprk", kind="report")
    expected = [s for i, s in enumerate(seqs) if i % 3 and i != 4]
    assert _page_all(store, "dprk", 4, where) == expected


def test_topic_names_with_like_wildcards_match_only_themselves(store: Store) -> None:
    a = add(store, make_row(0, topics=("ops_1.x",)))
    add(store, make_row(1, topics=("opsa1.x",)))
    add(store, make_row(2, topics=("ops-1",)))
    assert [item.seq for item in store.read_after(0, 10, ItemFilter(topic="ops_1"))] == [a]


def test_sqlite_reads_a_topic_page_by_index_search_only(tmp_path: object) -> None:
    from trilat.store.sqlite import SqliteStore

    store = SqliteStore(f"{tmp_path}/plan.sqlite3")
    try:
        plans = [
            " ".join(
                str(row[3])
                for row in store._connection.execute("EXPLAIN QUERY PLAN " + sql, params)
            )
            for sql, params in (
                (
                    "SELECT seq FROM item_topics WHERE topic = ? AND seq > ? AND seq <= ? "
                    "ORDER BY seq LIMIT ?",
                    ("dprk", 0, 10, 5),
                ),
                ("SELECT MIN(topic) FROM item_topics WHERE topic > ? AND topic < ?", ("a.", "a/")),
            )
        ]
    finally:
        store.close()
    for plan in plans:
        assert plan.startswith("SEARCH item_topics USING COVERING INDEX"), plan
        assert "TEMP B-TREE" not in plan
