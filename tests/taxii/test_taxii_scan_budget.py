"""A TAXII page costs bounded work however little of a collection the requester may see:
objects, manifest and versions examine at most a budget of stored rows per request, answer
a short (possibly empty) page with ``more: true`` when it runs out, and resume after the
last row examined, so a JPN user paging a mostly NOFORN collection still gets every object
released to Japan and nothing else. Real node, real HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import make_node
from tests.store.backends import BACKENDS, store_url_for
from tests.taxii.conftest import LABELS, TaxiiNode, indicator
from trilat.api.node import NewItem
from trilat.api.taxii import _scan_budget
from trilat.core.clock import format_time
from trilat.core.items import Item
from trilat.core.labels import parse_label

LIMIT = 10
BUDGET = _scan_budget(LIMIT)
HIDDEN = 2 * BUDGET + 37  # NOFORN rows between the objects released to Japan


def _originate(taxii: TaxiiNode, bodies: list[tuple[dict[str, Any], str]]) -> None:
    """Store *bodies* (STIX object, test label name) as indicator items on topic cyber."""
    node = taxii.made.node
    admin = next(user for user in node.store.users() if user.name == "admin")
    items = [
        Item(
            kind="indicator",
            label=parse_label(LABELS[name], owner="USA"),
            topics=("cyber",),
            body=body,
        )
        for body, name in bodies
    ]
    for start in range(0, len(items), 500):
        node.originate_many(items[start : start + 500], admin)


def _mostly_hidden(taxii: TaxiiNode) -> list[str]:
    """One object released to Japan, HIDDEN NOFORN ones, then two more released to Japan;
    returns the ids of the three released ones in insertion order."""
    released = [indicator(n) for n in range(3)]
    bodies = [(released[0], "rel-jpn")]
    bodies += [(indicator(100 + n), "noforn") for n in range(HIDDEN)]
    bodies += [(released[1], "rel-jpn"), (released[2], "rel-jpn")]
    _originate(taxii, bodies)
    return [obj["id"] for obj in released]


def _walk(
    taxii: TaxiiNode, user: str, url: str, member: str, max_pages: int = 50
) -> list[list[Any]]:
    """Every page of *url* for *user* following ``next`` (at most *max_pages*)."""
    pages: list[list[Any]] = []
    params: dict[str, Any] = {"limit": LIMIT}
    with httpx.Client(headers=taxii.headers(user), timeout=30) as client:
        for _ in range(max_pages):
            response = client.get(url, params=params)
            assert response.status_code == 200, response.text
            document = response.json()
            pages.append(list(document.get(member, [])))
            if not document["more"]:
                return pages
            params = {"limit": LIMIT, "next": document["next"]}
    raise AssertionError(f"{url} did not end within {max_pages} pages")


def test_a_user_who_may_see_little_gets_short_pages_and_every_released_object(
    taxii: TaxiiNode,
) -> None:
    released = _mostly_hidden(taxii)
    pages = _walk(taxii, "kenji", taxii.collection_url() + "objects/", "objects")
    assert [obj["id"] for page in pages for obj in page] == released
    # the first page stops at the budget with the one object before the hidden run
    assert [obj["id"] for obj in pages[0]] == released[:1]
    # hidden rows cost pages, never objects: each page examined at most the budget
    assert len(pages) >= HIDDEN // BUDGET + 1
    assert any(page == [] for page in pages[:-1])


def test_a_postgres_node_pages_a_mostly_hidden_collection_within_the_budget(
    taxii_postgres: TaxiiNode,
) -> None:
    released = _mostly_hidden(taxii_postgres)
    pages = _walk(taxii_postgres, "kenji", taxii_postgres.collection_url() + "objects/", "objects")
    assert [obj["id"] for page in pages for obj in page] == released
    assert len(pages) >= HIDDEN // BUDGET + 1


def test_the_manifest_of_a_mostly_hidden_collection_is_paged_within_the_budget(
    taxii: TaxiiNode,
) -> None:
    released = _mostly_hidden(taxii)
    pages = _walk(taxii, "kenji", taxii.collection_url() + "manifest/", "objects")
    assert [record["id"] for page in pages for record in page] == released
    assert len(pages) >= HIDDEN // BUDGET + 1


def test_a_user_who_may_see_everything_still_gets_full_pages(taxii: TaxiiNode) -> None:
    released = _mostly_hidden(taxii)
    pages = _walk(taxii, "admin", taxii.collection_url() + "objects/", "objects", max_pages=200)
    ids = [obj["id"] for page in pages for obj in page]
    assert len(ids) == HIDDEN + len(released) == len(set(ids))
    assert all(len(page) == LIMIT for page in pages[:-1])


def test_added_after_past_every_object_ends_without_showing_any(taxii: TaxiiNode) -> None:
    _mostly_hidden(taxii)
    url = taxii.collection_url() + "objects/"
    with httpx.Client(headers=taxii.headers("admin"), timeout=30) as client:
        params: dict[str, Any] = {"limit": LIMIT, "added_after": "2999-01-01T00:00:00Z"}
        for _ in range(50):
            document = client.get(url, params=params).json()
            assert "objects" not in document
            if not document["more"]:
                break
            params = {**params, "next": document["next"]}
        else:
            raise AssertionError("added_after paging did not end within 50 pages")


def test_a_poll_for_what_is_new_is_one_page_on_a_collection_larger_than_the_budget(
    taxii: TaxiiNode,
) -> None:
    _mostly_hidden(taxii)
    node = taxii.made.node
    last = node.store.read_after(node.store.head() - 1, 1)[0].created
    for _ in range(1000):  # the new objects must be sealed in a later millisecond
        if format_time(node.clock.now()) > last:
            break
        time.sleep(0.001)
    new = [indicator(n) for n in range(3)]
    _originate(taxii, [(new[0], "rel-jpn"), (new[1], "noforn"), (new[2], "green")])
    url = taxii.collection_url() + "objects/"
    with httpx.Client(timeout=30) as client:
        for user, expected in (("kenji", [new[0], new[2]]), ("admin", new)):
            response = client.get(
                url, headers=taxii.headers(user), params={"limit": LIMIT, "added_after": last}
            )
            document = response.json()
            assert document["more"] is False
            assert [obj["id"] for obj in document["objects"]] == [obj["id"] for obj in expected]


def _versions(stix_id: str, count: int, first: int = 0) -> list[dict[str, Any]]:
    base = indicator(0)
    return [
        {**base, "id": stix_id, "modified": f"2026-01-02T04:{(first + n) // 60:02d}:"
         f"{(first + n) % 60:02d}.000Z"}
        for n in range(count)
    ]  # fmt: skip


def test_versions_past_a_run_of_hidden_ones_are_reached_with_next(taxii: TaxiiNode) -> None:
    stix_id = indicator(0)["id"]
    versions = _versions(stix_id, BUDGET + 22)
    labelled = [(versions[0], "rel-jpn")]
    labelled += [(body, "noforn") for body in versions[1:-1]]
    labelled += [(versions[-1], "rel-jpn")]
    _originate(taxii, labelled)
    url = f"{taxii.collection_url()}objects/{stix_id}/versions/"
    pages = _walk(taxii, "kenji", url, "versions")
    assert [version for page in pages for version in page] == [
        versions[0]["modified"],
        versions[-1]["modified"],
    ]
    assert len(pages) >= 2
    everything = _walk(taxii, "admin", url, "versions", max_pages=100)
    assert sum(len(page) for page in everything) == len(versions)


def test_versions_hidden_for_a_whole_budget_are_not_found(taxii: TaxiiNode) -> None:
    stix_id = indicator(0)["id"]
    versions = _versions(stix_id, BUDGET + 5)
    _originate(taxii, [(body, "noforn") for body in versions[:-1]] + [(versions[-1], "rel-jpn")])
    url = f"{taxii.collection_url()}objects/{stix_id}/versions/"
    with httpx.Client(timeout=30) as client:
        hidden = client.get(url, headers=taxii.headers("kenji"), params={"limit": LIMIT})
        shown = client.get(url, headers=taxii.headers("admin"), params={"limit": LIMIT})
    # fail closed: the answer never hints that hidden versions exist
    assert hidden.status_code == 404
    assert shown.status_code == 200
    assert len(shown.json()["versions"]) == LIMIT


@pytest.mark.parametrize("user", ["kenji", "minho"])
def test_versions_of_an_object_a_user_may_not_see_are_not_found(
    taxii: TaxiiNode, user: str
) -> None:
    stix_id = indicator(0)["id"]
    _originate(taxii, [(body, "noforn") for body in _versions(stix_id, 3)])
    url = f"{taxii.collection_url()}objects/{stix_id}/versions/"
    with httpx.Client(headers=taxii.headers(user), timeout=30) as client:
        assert client.get(url).status_code == 404
        assert client.get(f"{taxii.collection_url()}objects/{stix_id}/").status_code == 404


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_store_walks_one_objects_versions_by_cursor_and_counts_recalled_ones(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    node = make_node(store_url_for(backend, request, tmp_path)).node
    try:
        admin = next(user for user in node.store.users() if user.name == "admin")
        stix_id = indicator(0)["id"]
        label = parse_label(LABELS["green"], owner="USA")
        items = [
            Item(kind="indicator", label=label, topics=("cyber",), body=body)
            for body in _versions(stix_id, 5)
        ]
        seqs = [visible.seq for visible in node.originate_many(items, admin)]
        node.originate_many(
            [Item(kind="indicator", label=label, topics=("cyber",), body=indicator(9))], admin
        )
        target = node.store.stix_versions_after(stix_id, 0, 1)[0]
        node.originate(
            NewItem(
                kind="recall",
                label=LABELS["green"],
                topics=("cyber",),
                body={"item": target.id, "reason": "test"},
            ),
            admin,
        )
        first = node.store.stix_versions_after(stix_id, 0, 2)
        rest = node.store.stix_versions_after(stix_id, first[-1].seq, 10)
        assert [row.seq for row in first + rest] == seqs
        assert first[0].document is None  # recalled: handed over, so the caller counts it
        assert all(row.document is not None for row in first[1:] + rest)
        assert node.store.stix_versions_after(stix_id, seqs[-1], 10) == []
    finally:
        node.store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_store_reads_by_creation_time_only_a_range_within_the_limit(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    node = make_node(store_url_for(backend, request, tmp_path)).node
    try:
        admin = next(user for user in node.store.users() if user.name == "admin")
        label = parse_label(LABELS["green"], owner="USA")
        items = [
            Item(kind="indicator", label=label, topics=("cyber",), body=indicator(n))
            for n in range(6)
        ]
        seqs = [visible.seq for visible in node.originate_many(items, admin)]
        first = node.store.read_after(0, 1)[0].created
        everything = node.store.read_created_since(first, 0, 6, "indicator")
        assert everything is not None
        assert [row.seq for row in everything] == seqs
        assert node.store.read_created_since(first, 0, 5, "indicator") is None  # too many
        later = node.store.read_created_since(first, seqs[3], 6, "indicator")
        assert later is not None
        assert [row.seq for row in later] == seqs[4:]
        assert node.store.read_created_since(first, 0, 6, "track") == []
        assert node.store.read_created_since("2999-01-01T00:00:00.000Z", 0, 0, "indicator") == []
    finally:
        node.store.close()
