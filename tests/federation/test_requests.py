"""The receiving end: requests must be signed by a pinned node key, fresh and used once,
and each pushed item must carry its originator's signature and be within the sender's
rights (the receiver re-runs the decision); every refusal is answered as problem+json or
listed as refused, and written to the receiver's audit log."""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from trilat.agreement_files import load_policy
from trilat.api.app import create_app
from trilat.api.node import Node
from trilat.core._crypto import generate_private_key
from trilat.core.audit import decode_entry
from trilat.core.items import Item, Originator, envelope_document, seal
from trilat.core.labels import parse_label
from trilat.federation.auth import sign_request
from trilat.federation.cards import key_id_of
from trilat.store import open_store
from trilat.store.federation import FederationTables, PeerRow

PUSH = "/api/v1/federation/push"


@dataclass
class Partner:
    nation: str
    node: str
    key: bytes

    @property
    def key_id(self) -> str:
        from trilat.core._crypto import public_key_of

        return key_id_of(public_key_of(self.key))


@dataclass
class Receiver:
    node: Node
    client: TestClient
    jpn: Partner
    kor: Partner


@pytest.fixture
def usa(tmp_path: Path) -> Iterator[Receiver]:
    from trilat.core._crypto import public_key_of

    store = open_store(f"sqlite:///{tmp_path / 'usa.sqlite3'}")
    node = Node(
        nation="USA",
        node_id="usa-1",
        store=store,
        policy=load_policy(),
        private_key=generate_private_key(),
    )
    jpn = Partner("JPN", "jpn-1", generate_private_key())
    kor = Partner("KOR", "kor-1", generate_private_key())
    tables = FederationTables(store)
    for partner in (jpn, kor):
        public = public_key_of(partner.key)
        tables.put_peer(
            PeerRow(
                partner.node,
                partner.nation,
                "http://127.0.0.1:9",
                base64.b64encode(public).decode(),
                key_id_of(public),
                "{}",
                link=False,
            )
        )
    client = TestClient(create_app(node), raise_server_exceptions=False)
    yield Receiver(node, client, jpn, kor)
    client.close()
    store.close()


def envelope(partner: Partner, banner: str, topics: tuple[str, ...], **body: Any) -> dict[str, Any]:
    sealed = seal(
        Item("report", parse_label(banner, owner=partner.nation), topics, {"text": "x", **body}),
        originator=Originator(partner.node, partner.nation),
        private_key=partner.key,
        at=datetime.now(UTC),
    )
    return envelope_document(sealed)


def push(
    receiver: Receiver,
    sender: Partner,
    entries: list[dict[str, Any]],
    *,
    key: bytes | None = None,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    body = json.dumps({"items": entries}).encode()
    signed = headers or sign_request(
        method="POST",
        target=PUSH,
        body=body,
        sender=sender.node,
        receiver="usa-1",
        private_key=key or sender.key,
        key_id=sender.key_id,
        timestamp=timestamp if timestamp is not None else int(time.time()),
    )
    response = receiver.client.post(
        PUSH, content=body, headers={**signed, "content-type": "application/json"}
    )
    return response, signed


def refusals(node: Node) -> list[dict[str, Any]]:
    size = node.store.audit_size()
    found = []
    for leaf in node.store.audit_leaves(0, size):
        if leaf.event == "refuse":
            entry = decode_entry(leaf.data)
            found.append({"peer": entry.peer, "item": entry.item, **dict(entry.detail)})
    return found


def held(node: Node, item_id: str) -> bool:
    return node.store.get_item(item_id) is not None


def test_an_item_from_a_pinned_partner_is_stored_once_with_its_path(usa: Receiver) -> None:
    document = envelope(usa.jpn, "SECRET//REL TO USA, JPN, KOR", ("dprk.missile",))
    entry = {"envelope": document, "path": ["jpn-1"]}
    first, _ = push(usa, usa.jpn, [entry])
    again, _ = push(usa, usa.jpn, [entry])
    assert first.status_code == 200
    assert again.status_code == 200
    assert first.json() == {"acked": [document["id"]], "refused": []}
    assert again.json() == {"acked": [document["id"]], "refused": []}
    accepts = [
        leaf
        for leaf in usa.node.store.audit_leaves(0, usa.node.store.audit_size())
        if leaf.event == "accept" and leaf.item_id == document["id"]
    ]
    assert len(accepts) == 1
    assert FederationTables(usa.node.store).path(document["id"]) == ("jpn-1", "usa-1")


def test_a_forged_request_signature_is_refused_and_audited(usa: Receiver) -> None:
    document = envelope(usa.jpn, "SECRET//REL TO USA, JPN, KOR", ("dprk.missile",))
    response, _ = push(
        usa, usa.jpn, [{"envelope": document, "path": ["jpn-1"]}], key=generate_private_key()
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == "bad-signature"
    assert not held(usa.node, document["id"])
    assert any(
        r["rule"] == "request-bad-signature" and r["peer"] == "jpn-1" for r in refusals(usa.node)
    )


def test_a_replayed_request_is_refused_and_audited(usa: Receiver) -> None:
    document = envelope(usa.jpn, "UNCLASSIFIED", ("cyber",))
    entries = [{"envelope": document, "path": ["jpn-1"]}]
    first, headers = push(usa, usa.jpn, entries)
    assert first.status_code == 200
    replay, _ = push(usa, usa.jpn, entries, headers=headers)
    assert replay.status_code == 409
    assert replay.json()["reason"] == "replayed"
    assert any(r["rule"] == "request-replayed" for r in refusals(usa.node))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("stale", "stale"),
        ("unsigned", "unsigned"),
        ("stranger", "unknown-key"),
    ],
)
def test_stale_unsigned_and_unknown_key_requests_are_refused(
    usa: Receiver, change: str, reason: str
) -> None:
    document = envelope(usa.jpn, "UNCLASSIFIED", ("cyber",))
    entries = [{"envelope": document, "path": ["jpn-1"]}]
    if change == "stale":
        response, _ = push(usa, usa.jpn, entries, timestamp=int(time.time()) - 3600)
    elif change == "unsigned":
        response, _ = push(usa, usa.jpn, entries, headers={"x-trilat-node": "jpn-1"})
    else:
        stranger = Partner("CHN", "chn-1", generate_private_key())
        response, _ = push(usa, stranger, entries)
    assert response.status_code == 401
    assert response.json()["reason"] == reason
    assert not held(usa.node, document["id"])
    assert any(r["rule"] == f"request-{reason}" for r in refusals(usa.node))


def test_an_item_outside_the_senders_rights_is_refused_and_audited(usa: Receiver) -> None:
    # Korea's TISA item may reach the US from Japan only with Korea's consent.
    korean = envelope(usa.kor, "SECRET//REL TO USA, JPN, KOR", ("dprk.missile",))
    noforn = envelope(usa.jpn, "SECRET//NOFORN", ("dprk.missile",))
    response, _ = push(
        usa,
        usa.jpn,
        [
            {"envelope": korean, "path": ["kor-1", "jpn-1"]},
            {"envelope": noforn, "path": ["jpn-1"]},
        ],
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["acked"] == []
    assert {r["id"] for r in answer["refused"]} == {korean["id"], noforn["id"]}
    for document in (korean, noforn):
        assert not held(usa.node, document["id"])
    audited = {r["item"] for r in refusals(usa.node) if str(r["rule"]).startswith("policy:")}
    assert audited == {korean["id"], noforn["id"]}


def test_an_envelope_not_signed_by_its_originator_is_refused(usa: Receiver) -> None:
    document = envelope(usa.jpn, "SECRET//REL TO USA, JPN, KOR", ("dprk.missile",))
    forged = dict(document, body={"text": "altered"})
    claims_kor = envelope(usa.jpn, "UNCLASSIFIED", ("cyber",))
    claims_kor["originator"] = {"node": "kor-1", "nation": "KOR"}
    response, _ = push(
        usa,
        usa.jpn,
        [
            {"envelope": forged, "path": ["jpn-1"]},
            {"envelope": claims_kor, "path": ["kor-1", "jpn-1"]},
        ],
    )
    refused = {r["id"] for r in response.json()["refused"]}
    assert refused == {document["id"], claims_kor["id"]}
    assert not held(usa.node, document["id"])


def test_a_relay_path_that_does_not_end_at_the_sender_is_refused(usa: Receiver) -> None:
    document = envelope(usa.jpn, "UNCLASSIFIED", ("cyber",))
    response, _ = push(usa, usa.kor, [{"envelope": document, "path": ["jpn-1"]}])
    assert [r["id"] for r in response.json()["refused"]] == [document["id"]]
