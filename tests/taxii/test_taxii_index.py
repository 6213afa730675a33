"""The store's STIX id index (``item_stix_ids``, v5): filled with each indicator item,
filled in from existing documents when the migration is applied, and what TAXII uses to
find an object's versions (no map of the collection held in memory)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_node, serve_in_thread
from tests.store.backends import BACKENDS, store_url_for
from tests.taxii.conftest import CYBER, TaxiiNode, indicator, marked
from trilat.adapters.stix import item_from_stix
from trilat.api.app import create_app
from trilat.api.node import NewItem, Node
from trilat.core.items import Item
from trilat.core.labels import parse_label
from trilat.store import open_store

GREEN = "UNCLASSIFIED//TLP:GREEN"


def _originate(node: Node, objects: list[dict[str, object]]) -> list[int]:
    admin = next(user for user in node.store.users() if user.name == "admin")
    label = parse_label(GREEN, owner="USA")
    items = []
    for obj in objects:
        marked_obj, definitions = marked(obj, "green")
        item = item_from_stix(marked_obj, definitions, topics=("cyber",))
        items.append(Item(kind="indicator", label=label, topics=item.topics, body=item.body))
    return [visible.seq for visible in node.originate_many(items, admin)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_version_of_an_object_is_found_by_its_stix_id(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    node = make_node(store_url_for(backend, request, tmp_path)).node
    try:
        first = indicator(1, modified="2026-01-02T03:04:05.000Z")
        second = {**first, "modified": "2026-02-02T03:04:05.000Z"}
        other = indicator(2)
        seqs = _originate(node, [first, other, second])
        found = node.store.items_by_stix_id([first["id"]])
        assert [(stix_id, stored.seq) for stix_id, stored in found] == [
            (first["id"], seqs[0]),
            (first["id"], seqs[2]),
        ]
        both = node.store.items_by_stix_id([other["id"], first["id"], "indicator--missing"])
        assert [stored.seq for _, stored in both] == seqs
        assert node.store.items_by_stix_id([]) == []
    finally:
        node.store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migration_fills_the_index_from_items_already_stored(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = store_url_for(backend, request, tmp_path)
    node = make_node(url).node
    objects = [indicator(n) for n in range(3)]
    seqs = _originate(node, objects)
    store = node.store
    # back to the store as it was before v5: no index table, v5 not applied
    with store._write() as cursor:
        store._x(cursor, "DROP TABLE item_stix_ids")
        store._x(cursor, "DELETE FROM schema_migrations WHERE version = 5")
    store.close()
    reopened = open_store(url)
    try:
        found = reopened.items_by_stix_id([obj["id"] for obj in objects])
        assert sorted((stix_id, stored.seq) for stix_id, stored in found) == sorted(
            zip([obj["id"] for obj in objects], seqs, strict=True)
        )
    finally:
        reopened.close()


def test_a_recalled_item_is_no_longer_a_version(tmp_path: Path) -> None:
    node = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}").node
    try:
        obj = indicator(1)
        _originate(node, [obj, {**obj, "modified": "2026-03-01T00:00:00.000Z"}])
        before = node.store.items_by_stix_id([obj["id"]])
        assert len(before) == 2
        recall_target = before[0][1].id
        admin = next(user for user in node.store.users() if user.name == "admin")
        node.originate(
            NewItem(
                kind="recall",
                label=GREEN,
                topics=("cyber",),
                body={"item": recall_target, "reason": "test"},
            ),
            admin,
        )
        after = node.store.items_by_stix_id([obj["id"]])
        assert [stored.id for _, stored in after] == [before[1][1].id]
    finally:
        node.store.close()


def test_versions_are_served_by_taxii_installed_on_a_filled_store(tmp_path: Path) -> None:
    """TAXII installed over items already stored answers from the index in the store."""
    made = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    obj = indicator(7, modified="2026-01-02T03:04:05.000Z")
    _originate(made.node, [obj, {**obj, "modified": "2026-04-02T03:04:05.000Z"}, indicator(8)])
    taxii = TaxiiNode(made, serve_in_thread(create_app(made.node)))
    try:
        base = f"{taxii.root}collections/{CYBER.id}/objects/"
        versions = httpx.get(f"{base}{obj['id']}/versions/", headers=taxii.headers("admin"))
        assert versions.status_code == 200, versions.text
        assert versions.json()["versions"] == [
            "2026-01-02T03:04:05.000Z",
            "2026-04-02T03:04:05.000Z",
        ]
        latest = httpx.get(base, headers=taxii.headers("admin")).json()["objects"]
        assert [o["modified"] for o in latest if o["id"] == obj["id"]] == [
            "2026-04-02T03:04:05.000Z"
        ]
        assert len(latest) == 2  # match[version]=last by default: the older one is left out
    finally:
        taxii.served.server.should_exit = True
        taxii.served.thread.join(timeout=15)
        made.node.store.close()
