"""Labels rendered in the reader's national terms (SPEC §2), beside the signed envelopes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.api.conftest import NodeUnderTest, TestClient
from trilat.core._crypto import generate_private_key
from trilat.core.items import Item, Originator, envelope_from_document, seal, verify
from trilat.core.labels import parse_label

ITEMS = "/api/v1/items"
KOREAN_BANNER = "군사 II급비밀//REL TO USA, KOR"


def _report(label: str) -> dict[str, Any]:
    return {
        "kind": "report",
        "label": label,
        "topics": ["dprk.missile"],
        "body": {"text": "launch observed"},
    }


def test_a_korean_reader_sees_the_grade_of_the_usa_kor_gsomia(
    client: TestClient, usa: NodeUnderTest
) -> None:
    posted = client.post(ITEMS, json=_report("SECRET//REL TO USA, KOR"), headers=usa.auth("admin"))
    assert posted.status_code == 201
    item_id = posted.json()["id"]
    page = client.get(ITEMS, headers=usa.auth("minho")).json()
    assert page["label_national"] == {item_id: KOREAN_BANNER}
    # the envelope itself is untouched: it still verifies and has no extra member
    (envelope,) = page["items"]
    assert "label_national" not in envelope
    verify(envelope_from_document(envelope), usa.node.public_key)
    single = client.get(f"{ITEMS}/{item_id}", headers=usa.auth("minho"))
    assert unquote(single.headers["label-national"]) == KOREAN_BANNER
    verify(envelope_from_document(single.json()), usa.node.public_key)


def test_no_table_means_no_member(client: TestClient, usa: NodeUnderTest) -> None:
    client.post(ITEMS, json=_report("SECRET//REL TO USA, JPN"), headers=usa.auth("admin"))
    client.post(ITEMS, json=_report("UNCLASSIFIED"), headers=usa.auth("admin"))
    # GSOMIA-USA-JPN-2007 gives no Japanese terms; USA readers have no table either
    for reader in ("kenji", "analyst"):
        page = client.get(ITEMS, headers=usa.auth(reader)).json()
        assert page["items"]
        assert "label_national" not in page
    # an UNCLASSIFIED item has no Korean term in any table
    page = client.get(ITEMS, params={"kind": "report"}, headers=usa.auth("minho")).json()
    ids = {item["id"] for item in page["items"] if item["label"] == "UNCLASSIFIED"}
    assert ids
    assert not ids & set(page.get("label_national", {}))
    posted = client.post(ITEMS, json=_report("UNCLASSIFIED"), headers=usa.auth("admin"))
    assert "label-national" not in posted.headers


def test_a_japanese_reader_of_a_korean_item_sees_the_jpn_kor_gsomia_term(
    usa: NodeUnderTest,
) -> None:
    item = Item(
        kind="report",
        label=parse_label("SECRET//REL TO KOR, JPN", owner="KOR"),
        topics=("dprk.missile",),
        body={"text": "launch observed"},
    )
    envelope = seal(
        item,
        originator=Originator(node="kor-1", nation="KOR"),
        private_key=generate_private_key(),
        at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    assert usa.node.label_national(envelope, "JPN") == "極秘//REL TO JPN, KOR"
    # a KOR reader of a KOR item: the KOR tables of its agreements agree on grade II
    assert usa.node.label_national(envelope, "KOR") == "군사 II급비밀//REL TO JPN, KOR"
    assert usa.node.label_national(envelope, "USA") is None
