"""REST API behaviour over both store backends (httpx through the ASGI app)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from tests.api.conftest import NodeUnderTest, TestClient, assert_problem
from trilat.api.cursor import CursorError, Cursors
from trilat.core.audit import VerifierKey, leaf_hash, verify_checkpoint, verify_inclusion
from trilat.core.items import envelope_from_document, verify

ITEMS = "/api/v1/items"
ACCEPTANCE_LABELS = {
    "rel": "SECRET//REL TO USA, JPN, KOR",
    "noforn": "SECRET//NOFORN",
    "top": "TOP SECRET//REL TO USA, JPN",
    "display": "SECRET//DISPLAY ONLY JPN",
}


def report(label: str, text: str = "launch observed", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "report",
        "label": label,
        "topics": ["dprk.missile"],
        "body": {"text": text},
        **extra,
    }


def post(
    client: TestClient, usa: NodeUnderTest, payload: dict[str, Any], who: str = "admin"
) -> dict[str, Any]:
    response = client.post(ITEMS, json=payload, headers=usa.auth(who))
    assert response.status_code == 201, response.text
    return response.json()


def listed(client: TestClient, usa: NodeUnderTest, who: str, **params: Any) -> list[str]:
    response = client.get(ITEMS, params=params, headers=usa.auth(who))
    assert response.status_code == 200, response.text
    return [item["body"].get("text", item["kind"]) for item in response.json()["items"]]


def audit_events(usa: NodeUnderTest) -> list[dict[str, Any]]:
    store = usa.node.store
    return [json.loads(leaf.data) for leaf in store.audit_leaves(0, store.audit_size())]


def test_posted_item_is_sealed_by_the_node_and_audited(
    client: TestClient, usa: NodeUnderTest
) -> None:
    response = client.post(ITEMS, json=report(ACCEPTANCE_LABELS["rel"]), headers=usa.auth("admin"))
    assert response.status_code == 201
    document = response.json()
    assert response.headers["location"] == f"{ITEMS}/{document['id']}"
    assert document["originator"] == {"node": "usa-1", "nation": "USA"}
    assert document["label"] == "SECRET//REL TO USA, JPN, KOR"
    verify(envelope_from_document(document), usa.node.public_key)
    accepted = [e for e in audit_events(usa) if e["event"] == "accept"]
    digest = hashlib.sha256(
        json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert accepted == [
        {
            "event": "accept",
            "at": accepted[0]["at"],
            "actor": "admin",
            "item": document["id"],
            "digest": digest,
            "kind": "report",
            "label": "SECRET//REL TO USA, JPN, KOR",
        }
    ]


def test_japanese_liaison_sees_exactly_what_policy_allows_on_list_and_read(
    client: TestClient, usa: NodeUnderTest
) -> None:
    ids = {
        name: post(client, usa, report(label, text=name))["id"]
        for name, label in ACCEPTANCE_LABELS.items()
    }
    assert listed(client, usa, "kenji") == ["rel", "display"]
    assert listed(client, usa, "admin") == ["rel", "noforn", "top", "display"]
    for name, item_id in ids.items():
        response = client.get(f"{ITEMS}/{item_id}", headers=usa.auth("kenji"))
        if name in ("rel", "display"):
            assert response.status_code == 200
            assert response.json()["id"] == item_id
        else:
            hidden = assert_problem(response, 404)
            absent = assert_problem(
                client.get(
                    f"{ITEMS}/01890000-0000-7000-8000-000000000000", headers=usa.auth("kenji")
                ),
                404,
            )
            assert (hidden["type"], hidden["detail"]) == (absent["type"], absent["detail"])
    views = [e for e in audit_events(usa) if e["event"] == "view"]
    assert [(v["actor"], v["item"], v["nation"]) for v in views] == [
        ("kenji", ids["display"], "JPN"),
        ("kenji", ids["display"], "JPN"),
    ]


def test_korean_liaison_does_not_see_display_only_for_japan(
    client: TestClient, usa: NodeUnderTest
) -> None:
    for name, label in ACCEPTANCE_LABELS.items():
        post(client, usa, report(label, text=name))
    assert listed(client, usa, "minho") == ["rel"]
    assert listed(client, usa, "citizen") == []


def test_only_cleared_nationals_in_originating_roles_may_post(
    client: TestClient, usa: NodeUnderTest
) -> None:
    assert_problem(
        client.post(ITEMS, json=report("UNCLASSIFIED"), headers=usa.auth("citizen")), 403
    )
    assert_problem(client.post(ITEMS, json=report("UNCLASSIFIED"), headers=usa.auth("kenji")), 403)
    refused = assert_problem(
        client.post(ITEMS, json=report(ACCEPTANCE_LABELS["top"]), headers=usa.auth("analyst")), 403
    )
    assert "TOP SECRET" in refused["detail"]
    post(client, usa, report(ACCEPTANCE_LABELS["rel"]), who="analyst")


@pytest.mark.parametrize(
    ("payload", "status", "slug", "mention"),
    [
        (report("SECRET//REL TO USA, JPX"), 422, "label-invalid", "JPX"),
        ({**report("SECRET//NOFORN"), "kind": "memo"}, 422, "invalid-request", "kind"),
        ({**report("SECRET//NOFORN"), "body": {"txt": "x"}}, 422, "item-invalid", "txt"),
        ({**report("SECRET//NOFORN"), "topics": ["DPRK Missile"]}, 422, "item-invalid", "topics"),
        ({**report("SECRET//NOFORN"), "extra": 1}, 422, "invalid-request", "extra"),
        (
            {
                "kind": "track",
                "label": "UNCLASSIFIED",
                "topics": ["air.track"],
                "body": {
                    "uid": "a",
                    "type": "a-h-A",
                    "time": "2024-01-01T00:00:00Z",
                    "stale": "2024-01-01T00:05:00Z",
                    "point": {"lat": 95.0, "lon": 0.0},
                },
            },
            422,
            "item-invalid",
            "point.lat",
        ),
        (
            report("SECRET//NOFORN", supersedes="01890000-0000-7000-8000-000000000000"),
            422,
            "reference-unknown",
            "supersedes",
        ),
    ],
    ids=[
        "bad-label",
        "unknown-kind",
        "body-member",
        "topic",
        "extra-member",
        "range",
        "supersedes-unknown",
    ],
)
def test_bad_items_are_refused_precisely_and_nothing_is_written(
    client: TestClient,
    usa: NodeUnderTest,
    payload: dict[str, Any],
    status: int,
    slug: str,
    mention: str,
) -> None:
    before = (usa.node.store.head(), usa.node.store.audit_size())
    problem = assert_problem(client.post(ITEMS, json=payload, headers=usa.auth("admin")), status)
    assert problem["type"] == f"/problems/{slug}"
    assert mention in json.dumps(problem)
    assert (usa.node.store.head(), usa.node.store.audit_size()) == before


def test_malformed_json_and_oversized_bodies_are_refused(
    client: TestClient, usa: NodeUnderTest
) -> None:
    headers = {**usa.auth("admin"), "content-type": "application/json"}
    problem = assert_problem(client.post(ITEMS, content=b'{"kind": ', headers=headers), 400)
    assert problem["type"] == "/problems/malformed-json"
    big = json.dumps(report("UNCLASSIFIED", text="x" * 70_000)).encode()
    assert_problem(client.post(ITEMS, content=big, headers=headers), 413)

    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    assert_problem(client.post(ITEMS, content=chunks(), headers=headers), 413)
    assert usa.node.store.head() == 0


def test_pages_follow_opaque_cursors_and_forged_cursors_are_refused(
    client: TestClient, usa: NodeUnderTest
) -> None:
    for n in range(5):
        post(client, usa, report("UNCLASSIFIED", text=str(n)))
    seen: list[str] = []
    after = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2}
        if after:
            params["after"] = after
        page = client.get(ITEMS, params=params, headers=usa.auth("admin")).json()
        seen += [item["body"]["text"] for item in page["items"]]
        if not page["items"]:
            break
        after = page["next"]
    assert seen == ["0", "1", "2", "3", "4"]
    assert isinstance(after, str)
    forged = after[:-2] + ("AA" if not after.endswith("AA") else "BB")
    for bad in (forged, "not-a-cursor", "%%%"):
        problem = assert_problem(
            client.get(ITEMS, params={"after": bad}, headers=usa.auth("admin")), 400
        )
        assert problem["type"] == "/problems/cursor-invalid"


def test_hidden_items_do_not_shift_what_a_page_reveals(
    client: TestClient, usa: NodeUnderTest
) -> None:
    for n in range(30):
        post(client, usa, report("SECRET//NOFORN", text=f"hidden {n}"))
    post(client, usa, report("UNCLASSIFIED", text="open"))
    page = client.get(ITEMS, params={"limit": 5}, headers=usa.auth("kenji")).json()
    assert [item["body"]["text"] for item in page["items"]] == ["open"]
    assert set(page) == {"items", "next"}


def test_filters_select_by_kind_topic_area_and_time(client: TestClient, usa: NodeUnderTest) -> None:
    post(
        client,
        usa,
        {
            "kind": "report",
            "label": "UNCLASSIFIED",
            "topics": ["maritime.sts"],
            "body": {"text": "sts", "geometry": {"type": "Point", "coordinates": [124.5, 37.0]}},
        },
    )
    post(client, usa, report("UNCLASSIFIED", text="missile"))
    post(
        client,
        usa,
        {"kind": "chat", "label": "UNCLASSIFIED", "topics": ["exercise"], "body": {"text": "chat"}},
    )
    assert listed(client, usa, "admin", kind="chat") == ["chat"]
    assert listed(client, usa, "admin", topic="dprk") == ["missile"]
    assert listed(client, usa, "admin", bbox="120,30,130,40") == ["sts"]
    assert listed(client, usa, "admin", since="2000-01-01T00:00:00Z") == ["sts", "missile", "chat"]
    assert listed(client, usa, "admin", since="2999-01-01T00:00:00Z") == []
    for params in (
        {"bbox": "1,2,3"},
        {"bbox": "10,0,5,1"},
        {"since": "yesterday"},
        {"topic": "Not A Topic"},
        {"limit": 0},
        {"kind": "memo"},
    ):
        assert_problem(client.get(ITEMS, params=params, headers=usa.auth("admin")), 422)


def test_missing_or_unknown_tokens_are_401_on_every_protected_route(client: TestClient) -> None:
    routes = [
        ("GET", ITEMS),
        ("POST", ITEMS),
        ("GET", f"{ITEMS}/x"),
        ("POST", f"{ITEMS}/x/consent"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/audit/checkpoint"),
        ("GET", "/api/v1/audit/proof/0"),
        ("POST", "/api/v1/documents"),
        ("GET", "/api/v1/documents/" + "0" * 64),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer trl_nope"}, {"Authorization": "Basic x"}):
            response = client.request(method, path, headers=headers, json={})
            problem = assert_problem(response, 401)
            assert problem["type"] == "/problems/unauthenticated"
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_unknown_routes_and_methods_answer_with_problems(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing"), 404)
    assert_problem(client.delete(ITEMS), 405)
    health = client.get("/api/v1/health")
    assert health.json() == {"status": "ok", "nation": "USA", "node": "usa-1"}


def test_consent_is_a_signed_item_from_the_originators_disclosure_officer(
    client: TestClient, usa: NodeUnderTest
) -> None:
    item = post(client, usa, report(ACCEPTANCE_LABELS["rel"]))
    path = f"{ITEMS}/{item['id']}/consent"
    assert_problem(client.post(path, json={"to": ["KOR"]}, headers=usa.auth("analyst")), 403)
    assert_problem(client.post(path, json={"to": ["KOR"]}, headers=usa.auth("kenji")), 403)
    assert_problem(client.post(path, json={"to": []}, headers=usa.auth("officer")), 422)
    assert_problem(client.post(path, json={"to": ["kor"]}, headers=usa.auth("officer")), 422)
    hidden = post(client, usa, report("TOP SECRET//NOFORN"))
    assert_problem(
        client.post(
            f"{ITEMS}/{hidden['id']}/consent", json={"to": ["KOR"]}, headers=usa.auth("kenji")
        ),
        404,
    )
    response = client.post(path, json={"to": ["KOR"]}, headers=usa.auth("officer"))
    assert response.status_code == 201
    consent = response.json()
    assert consent["kind"] == "consent"
    assert consent["refs"] == [item["id"]]
    assert consent["body"] == {"to": ["KOR"], "item": item["id"], "kind": "consent"}
    verify(envelope_from_document(consent), usa.node.public_key)
    assert [c.item_id for c in usa.node.consents_for(envelope_from_document(item))] == [item["id"]]
    assert [e["event"] for e in audit_events(usa)][-1] == "consent"


def test_recall_removes_the_item_from_every_view_and_is_audited(
    client: TestClient, usa: NodeUnderTest
) -> None:
    spilled = post(client, usa, report(ACCEPTANCE_LABELS["rel"], text="spilled"))
    post(client, usa, report(ACCEPTANCE_LABELS["rel"], text="kept"))
    recall = {
        "kind": "recall",
        "label": "SECRET//REL TO USA, JPN, KOR",
        "topics": ["dprk.missile"],
        "body": {"item": spilled["id"], "reason": "spillage"},
    }
    assert_problem(client.post(ITEMS, json=recall, headers=usa.auth("analyst")), 403)
    post(client, usa, recall)
    for who in ("admin", "kenji"):
        assert "spilled" not in listed(client, usa, who)
        assert_problem(client.get(f"{ITEMS}/{spilled['id']}", headers=usa.auth(who)), 404)
    tombstone = usa.node.store.get_item(spilled["id"])
    assert tombstone is not None
    assert tombstone.document is None
    recalls = [e for e in audit_events(usa) if e["event"] == "recall"]
    assert [r["target"] for r in recalls] == [spilled["id"]]


def test_documents_stream_in_under_their_own_limit(client: TestClient, usa: NodeUnderTest) -> None:
    data = bytes(range(256)) * 400  # 100 KiB: over the JSON limit, under the document limit
    response = client.post(
        "/api/v1/documents",
        content=data,
        headers={**usa.auth("analyst"), "content-type": "application/octet-stream"},
    )
    assert response.status_code == 201
    digest = hashlib.sha256(data).hexdigest()
    assert response.json() == {"sha256": digest, "size": len(data)}
    assert usa.node.store.get_blob(digest) == data
    body = {
        "sha256": digest,
        "name": "brief.bin",
        "media_type": "application/octet-stream",
        "size": len(data),
    }
    post(
        client,
        usa,
        {"kind": "document", "label": "UNCLASSIFIED", "topics": ["exercise"], "body": body},
    )
    downloaded = client.get(f"/api/v1/documents/{digest}", headers=usa.auth("kenji"))
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-disposition"] == 'attachment; filename="brief.bin"'
    secret = b"eyes only" * 10
    secret_digest = client.post(
        "/api/v1/documents", content=secret, headers=usa.auth("admin")
    ).json()["sha256"]
    post(
        client,
        usa,
        {
            "kind": "document",
            "label": "SECRET//NOFORN",
            "topics": ["exercise"],
            "body": {**body, "sha256": secret_digest, "size": len(secret)},
        },
    )
    assert (
        client.get(f"/api/v1/documents/{secret_digest}", headers=usa.auth("admin")).content
        == secret
    )
    for absent in (secret_digest, "0" * 64, "nothex"):
        assert_problem(client.get(f"/api/v1/documents/{absent}", headers=usa.auth("kenji")), 404)
    missing = {**body, "sha256": "0" * 64}
    assert_problem(
        client.post(
            ITEMS,
            json={
                "kind": "document",
                "label": "UNCLASSIFIED",
                "topics": ["exercise"],
                "body": missing,
            },
            headers=usa.auth("admin"),
        ),
        422,
    )
    assert_problem(
        client.post("/api/v1/documents", content=b"x" * (300 * 1024), headers=usa.auth("analyst")),
        413,
    )
    assert_problem(client.post("/api/v1/documents", content=b"x", headers=usa.auth("kenji")), 403)


def test_checkpoint_is_signed_and_proofs_verify_against_it(
    client: TestClient, usa: NodeUnderTest
) -> None:
    for n in range(5):
        post(client, usa, report("UNCLASSIFIED", text=str(n)))
    for outsider in ("kenji", "citizen"):  # the log's size would count hidden items
        assert_problem(client.get("/api/v1/audit/checkpoint", headers=usa.auth(outsider)), 403)
        assert_problem(client.get("/api/v1/audit/proof/0", headers=usa.auth(outsider)), 403)
    response = client.get("/api/v1/audit/checkpoint", headers=usa.auth("analyst"))
    assert response.status_code == 200
    key = VerifierKey("trilat/usa-1", usa.node.public_key)
    checkpoint = verify_checkpoint(response.text, key, origin="trilat/usa-1")
    assert checkpoint.size == usa.node.store.audit_size() == 5
    leaf = usa.node.store.audit_leaves(3, 4)[0]
    proof = client.get("/api/v1/audit/proof/3", headers=usa.auth("analyst")).json()
    assert base64.b64decode(proof["leaf_hash"]) == leaf_hash(leaf.data)
    assert base64.b64decode(proof["root"]) == checkpoint.root
    verify_inclusion(
        3, 5, leaf_hash(leaf.data), [base64.b64decode(h) for h in proof["proof"]], checkpoint.root
    )
    assert_problem(client.get("/api/v1/audit/proof/9", headers=usa.auth("analyst")), 404)
    assert_problem(client.get("/api/v1/audit/proof/1?size=99", headers=usa.auth("analyst")), 404)


def test_a_failing_store_gives_a_generic_5xx_problem(
    client: TestClient, usa: NodeUnderTest
) -> None:
    usa.node.store.close()
    problem = assert_problem(client.get(ITEMS, headers=usa.auth("admin")), 503)
    assert problem["detail"] == "store unavailable" or problem["detail"] == "internal error"


def test_an_unreadable_stored_envelope_is_never_shown_and_breaks_nothing(
    client: TestClient, usa: NodeUnderTest
) -> None:
    from trilat.store.auditlog import audit_entry
    from trilat.store.base import ItemRow

    post(client, usa, report("UNCLASSIFIED", text="fine"))
    broken = '{"id":"01890000-0000-7000-8000-0000000000ff","label":"SECRET//REL TO MARS"}'
    row = ItemRow(
        id="01890000-0000-7000-8000-0000000000ff",
        kind="report",
        created="2024-01-01T00:00:00.000Z",
        classification=0,
        originator_nation="USA",
        topics=("dprk.missile",),
        document=broken,
        digest="0" * 64,
    )
    usa.node.store.append_item(
        row, audit_entry("accept", at=usa.node.clock.now(), actor="peer", item_id=row.id)
    )
    post(client, usa, report("UNCLASSIFIED", text="after"))
    assert listed(client, usa, "admin") == ["fine", "after"]
    assert_problem(client.get(f"{ITEMS}/{row.id}", headers=usa.auth("admin")), 404)


def test_cursors_reveal_nothing_and_differ_each_time(
    client: TestClient, usa: NodeUnderTest
) -> None:
    for n in range(3):
        post(client, usa, report("SECRET//NOFORN", text=f"hidden {n}"))
    first = client.get(ITEMS, headers=usa.auth("kenji")).json()["next"]
    second = client.get(ITEMS, headers=usa.auth("kenji")).json()["next"]
    assert first != second  # encrypted with a fresh nonce: equal positions do not compare
    assert usa.node.cursors.decode(first) == usa.node.cursors.decode(second) == 3
    other = make_node_cursors()
    with pytest.raises(CursorError):
        other.decode(first)


def make_node_cursors() -> Cursors:
    return Cursors(bytes(range(32)))
