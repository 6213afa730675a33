"""The TAXII 2.1 endpoint through taxii2-client against a real uvicorn server: discovery,
collections, add, paged get, manifest, versions, status; every object served is valid
STIX 2.1 and only ever shown to users its label allows."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import Collection, Server, as_pages

from tests.taxii.conftest import CYBER, LABELS, SEES, TaxiiNode, envelope_of, indicator, marked
from trilat.adapters.stix import label_markings, label_of, mark, marking_refs
from trilat.api.taxii import TAXII_MEDIA_TYPE
from trilat.core.items import envelope_from_document, verify
from trilat.core.labels import format_banner, parse_label

VALIDATION = ValidationOptions(version="2.1", strict=False)


def _collection(taxii: TaxiiNode, user: str, topic: str = "cyber") -> Collection:
    name, token = taxii.credentials(user)
    return Collection(taxii.collection_url(topic), user=name, password=token)


def _post_one_of_each(taxii: TaxiiNode) -> dict[str, str]:
    """Add one indicator per test label as the admin; returns STIX id → label name."""
    pairs = {name: marked(indicator(number), name) for number, name in enumerate(LABELS)}
    status = _collection(taxii, "admin").add_objects(envelope_of(list(pairs.values())))
    assert status.status == "complete"
    assert status.failure_count == 0
    return {obj["id"]: name for name, (obj, _) in pairs.items()}


def _all_pages(method: Any, per_request: int, **filters: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for page in as_pages(method, per_request=per_request, **filters):
        seen.extend(page.get("objects", []))
        assert len(seen) < 1000, "paging did not end"
    return seen


def test_discovery_lists_the_api_root_and_its_collections(taxii: TaxiiNode) -> None:
    name, token = taxii.credentials("admin")
    server = Server(taxii.served.url + "/taxii2/", user=name, password=token)
    assert server.title.startswith("trilat usa-1")
    (root,) = server.api_roots
    assert root.versions == [TAXII_MEDIA_TYPE]
    topics = {collection.title.removeprefix("trilat ") for collection in root.collections}
    assert {"cyber", "dprk", "maritime", "hadr"} <= topics
    cyber = next(c for c in root.collections if c.id == CYBER.id)
    assert cyber.can_read
    assert cyber.can_write
    name, token = taxii.credentials("kenji")
    kenji_root = Server(taxii.served.url + "/taxii2/", user=name, password=token).api_roots[0]
    assert all(c.can_read and not c.can_write for c in kenji_root.collections)


def test_every_endpoint_shows_each_user_only_what_the_label_allows(taxii: TaxiiNode) -> None:
    labels_by_id = _post_one_of_each(taxii)
    counts = {}
    for user, allowed in SEES.items():
        collection = _collection(taxii, user)
        objects = _all_pages(collection.get_objects, 1)
        manifest = _all_pages(collection.get_manifest, 2)
        single = {}
        versions = {}
        for stix_id in labels_by_id:
            try:
                single[stix_id] = collection.get_object(stix_id)["objects"]
                versions[stix_id] = collection.object_versions(stix_id)["versions"]
            except requests.HTTPError as exc:  # taxii2client raises on a 404
                status = exc.response.status_code if exc.response is not None else None
                assert status == 404
        expected = {stix_id for stix_id, name in labels_by_id.items() if name in allowed}
        assert {obj["id"] for obj in objects} == expected
        assert {record["id"] for record in manifest} == expected
        assert set(single) == expected
        assert set(versions) == expected
        assert all(len(found) == 1 for found in single.values())
        for obj in objects:
            result = validate_instance(obj, VALIDATION)
            assert result.is_valid, [str(error) for error in result.errors]
            assert obj["object_marking_refs"], obj
        counts[user] = (len(objects), len(manifest), len(single), len(versions))
    print("objects, manifest, single, versions seen per user:", counts)
    assert counts["minho"] == (1, 1, 1, 1)
    assert counts["kenji"] == (2, 2, 2, 2)
    assert counts["admin"] == (4, 4, 4, 4)


@pytest.mark.postgres
def test_a_postgres_node_filters_objects_and_manifest_per_user(taxii_postgres: TaxiiNode) -> None:
    labels_by_id = _post_one_of_each(taxii_postgres)
    for user, allowed in SEES.items():
        collection = _collection(taxii_postgres, user)
        expected = {stix_id for stix_id, name in labels_by_id.items() if name in allowed}
        assert {o["id"] for o in _all_pages(collection.get_objects, 2)} == expected
        assert {r["id"] for r in _all_pages(collection.get_manifest, 3)} == expected


def test_bearer_and_basic_credentials_both_reach_the_same_user(taxii: TaxiiNode) -> None:
    _post_one_of_each(taxii)
    url = taxii.collection_url() + "objects/"
    bearer = httpx.get(url, headers=taxii.headers("kenji"))
    basic = httpx.get(url, headers={"Accept": TAXII_MEDIA_TYPE}, auth=taxii.credentials("kenji"))
    assert bearer.status_code == basic.status_code == 200
    assert bearer.json()["objects"] == basic.json()["objects"]
    assert len(basic.json()["objects"]) == len(SEES["kenji"])


def test_status_reports_each_refused_object_and_stores_only_the_good_ones(
    taxii: TaxiiNode,
) -> None:
    good, good_definitions = marked(indicator(1), "green")
    unmarked = indicator(2)
    stranger = "marking-definition--11111111-1111-4111-8111-111111111111"
    unknown = dict(indicator(3), object_marking_refs=[stranger])
    japanese = parse_label("SECRET//REL TO USA, JPN", owner="JPN")
    foreign_label = mark(indicator(4), japanese)
    foreign_definitions = label_markings(japanese)
    invalid, invalid_definitions = marked({**indicator(5), "pattern": "not a pattern ["}, "green")
    invalid.pop("pattern_type")
    envelope = envelope_of(
        [
            (good, good_definitions),
            (unmarked, []),
            (unknown, []),
            (foreign_label, foreign_definitions),
            (invalid, invalid_definitions),
        ]
    )
    status = _collection(taxii, "admin").add_objects(envelope)
    assert status.status == "complete"
    failed = {failure["id"]: failure["message"] for failure in status.failures}
    assert set(failed) == {unmarked["id"], unknown["id"], foreign_label["id"], invalid["id"]}
    assert "no object-level marking" in failed[unmarked["id"]]
    assert "unknown" in failed[unknown["id"]] or "not given" in failed[unknown["id"]]
    assert "JPN" in failed[foreign_label["id"]]
    assert "not valid STIX" in failed[invalid["id"]]
    stored = {s["id"] for s in status.successes if "message" not in s}
    assert stored == {good["id"]}
    assert status.total_count == len(envelope["objects"])
    assert status.success_count + status.failure_count == status.total_count
    # the status resource reads back the same, for its owner only
    reread = httpx.get(f"{taxii.root}status/{status.id}/", headers=taxii.headers("admin"))
    assert reread.json()["failure_count"] == 4
    other = httpx.get(f"{taxii.root}status/{status.id}/", headers=taxii.headers("analyst"))
    assert other.status_code == 404
    served = _collection(taxii, "admin").get_objects()["objects"]
    assert [obj["id"] for obj in served] == [good["id"]]


def test_added_objects_are_sealed_and_audited_like_any_item(taxii: TaxiiNode) -> None:
    node = taxii.made.node
    before = node.store.audit_size()
    ids = _post_one_of_each(taxii)
    rows = node.store.read_after(0, 100)
    assert len(rows) == len(ids)
    assert {row.kind for row in rows} == {"indicator"}
    assert node.store.audit_size() == before + len(ids)
    leaves = node.store.audit_leaves(before, before + len(ids))
    assert {leaf.event for leaf in leaves} == {"accept"}
    assert {leaf.item_id for leaf in leaves} == {row.id for row in rows}
    for row in rows:
        verify(envelope_from_document(json.loads(row.document or "")), node.public_key)


def test_paging_with_next_is_stable_under_concurrent_inserts(taxii: TaxiiNode) -> None:
    admin = _collection(taxii, "admin")
    first = [marked(indicator(n), "green") for n in range(7)]
    admin.add_objects(envelope_of(first))
    seen: list[str] = []
    page = admin.get_objects(limit=3)
    inserted = 0
    for _ in range(20):
        seen.extend(obj["id"] for obj in page.get("objects", []))
        if not page.get("more"):
            break
        if inserted < 3:  # another writer adds while this reader pages
            admin.add_objects(envelope_of([marked(indicator(100 + inserted), "green")]))
            inserted += 1
        page = admin.get_objects(limit=3, next=page["next"])
    assert len(seen) == len(set(seen))
    assert {obj["id"] for obj, _ in first} <= set(seen)
    assert len(seen) == 7 + inserted


def test_a_newer_version_hides_the_older_one_only_from_users_who_may_see_it(
    taxii: TaxiiNode,
) -> None:
    first = indicator(1, modified="2026-01-02T03:04:05.000Z")
    second = dict(first, modified="2026-02-02T03:04:05.000Z", name="revised")
    admin = _collection(taxii, "admin")
    admin.add_objects(envelope_of([marked(first, "green"), marked(second, "noforn")]))
    stix_id = first["id"]
    latest = admin.get_objects()["objects"]
    assert [obj["modified"] for obj in latest] == [second["modified"]]
    everything = admin.get_objects(version="all")["objects"]
    assert sorted(obj["modified"] for obj in everything) == [first["modified"], second["modified"]]
    assert admin.object_versions(stix_id)["versions"] == [first["modified"], second["modified"]]
    assert admin.get_object(stix_id, version="first")["objects"][0]["name"] == first["name"]
    minho = _collection(taxii, "minho")
    assert [obj["modified"] for obj in minho.get_objects()["objects"]] == [first["modified"]]
    assert minho.object_versions(stix_id)["versions"] == [first["modified"]]
    manifest = minho.get_manifest(version="all")["objects"]
    assert [record["version"] for record in manifest] == [first["modified"]]


def test_match_type_and_added_after_filter_the_collection(taxii: TaxiiNode) -> None:
    admin = _collection(taxii, "admin")
    admin.add_objects(envelope_of([marked(indicator(1), "green")]))
    page = httpx.get(taxii.collection_url() + "objects/", headers=taxii.headers("admin"))
    last = page.headers["X-TAXII-Date-Added-Last"]
    second = marked(indicator(2), "green")
    admin.add_objects(envelope_of([second]))
    newer = admin.get_objects(added_after=last)["objects"]
    assert [obj["id"] for obj in newer] == [second[0]["id"]]
    assert admin.get_objects(type="malware").get("objects", []) == []
    assert len(admin.get_objects(type="indicator,malware")["objects"]) == 2
    assert admin.get_objects(spec_version="2.0").get("objects", []) == []
    by_id = admin.get_objects(id=second[0]["id"])["objects"]
    assert [obj["id"] for obj in by_id] == [second[0]["id"]]
    assert (
        admin.get_manifest(id=second[0]["id"], added_after=last)["objects"][0]["id"]
        == (second[0]["id"])
    )


@pytest.mark.parametrize("topic", ["dprk", "hadr"])
def test_each_topic_collection_holds_only_its_own_objects(taxii: TaxiiNode, topic: str) -> None:
    _collection(taxii, "admin").add_objects(envelope_of([marked(indicator(1), "green")]))
    other = _collection(taxii, "admin", topic)
    assert other.get_objects().get("objects", []) == []
    obj, definitions = marked(indicator(2), "green")
    other.add_objects(envelope_of([(obj, definitions)]))
    assert [o["id"] for o in other.get_objects()["objects"]] == [obj["id"]]
    assert len(_collection(taxii, "admin").get_objects()["objects"]) == 1


def test_marking_refs_resolve_to_definitions_only_for_labels_the_user_was_shown(
    taxii: TaxiiNode,
) -> None:
    labels_by_id = _post_one_of_each(taxii)
    kenji = _collection(taxii, "kenji")
    objects = kenji.get_objects()["objects"]
    for obj in objects:
        definitions = [kenji.get_object(ref)["objects"][0] for ref in obj["object_marking_refs"]]
        for definition in definitions:
            result = validate_instance(definition, VALIDATION)
            assert result.is_valid, [str(error) for error in result.errors]
        label = label_of(obj, definitions)  # the label comes back from what TAXII served
        assert format_banner(label) == LABELS[labels_by_id[obj["id"]]]
    hidden = parse_label(LABELS["noforn"], owner="USA")
    for ref in marking_refs(hidden)[:1]:
        response = httpx.get(
            f"{taxii.collection_url()}objects/{ref}/", headers=taxii.headers("kenji")
        )
        assert response.status_code == 404


def test_a_display_only_view_by_a_liaison_officer_is_audited(taxii: TaxiiNode) -> None:
    label = parse_label("SECRET//REL TO USA, JPN/DISPLAY ONLY KOR", owner="USA")
    obj = mark(indicator(1), label)
    _collection(taxii, "admin").add_objects({"objects": [obj, *label_markings(label)]})
    store = taxii.made.node.store
    before = store.audit_size()
    seen = _collection(taxii, "minho").get_objects()["objects"]
    assert [o["id"] for o in seen] == [obj["id"]]
    leaves = store.audit_leaves(before, store.audit_size())
    views = [json.loads(leaf.data) for leaf in leaves if leaf.event == "view"]
    assert [(view["actor"], view["nation"]) for view in views] == [("minho", "KOR")]
