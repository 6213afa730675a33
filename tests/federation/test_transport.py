"""The transport seam: a push whose answer is lost is sent again and stored once; a node
catches up by pulling from a peer's cursor. The receiving node is the real application
(``create_app``) driven in process; only the fault wrapper changes what the network does."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from trilat.agreement_files import load_policy
from trilat.api.app import create_app
from trilat.api.node import Node
from trilat.core._crypto import generate_private_key, public_key_of
from trilat.core.errors import PeerError
from trilat.core.items import Item, Originator, seal
from trilat.core.labels import format_banner, parse_label
from trilat.federation.cards import key_id_of
from trilat.federation.service import Federation, Limits, LinkStatus
from trilat.federation.transport import Faults, FaultTransport, Response
from trilat.store import Store, open_store
from trilat.store.auditlog import audit_entry
from trilat.store.federation import FederationTables, PeerRow
from trilat.store.records import item_row


class AppTransport:
    """Requests to the real node application, in process (no socket)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Response:
        path = url.removeprefix("http://testserver")
        answer = self.client.request(method, path, headers=dict(headers), content=body)
        return Response(answer.status_code, answer.content, answer.headers.get("content-type", ""))

    def close(self) -> None:
        """The client belongs to the test."""


@dataclass
class Pair:
    jpn_store: Store
    jpn_key: bytes
    usa: Node
    client: TestClient


def pin(store: Store, node: str, nation: str, key: bytes, *, link: bool) -> None:
    public = public_key_of(key)
    FederationTables(store).put_peer(
        PeerRow(
            node,
            nation,
            "http://testserver",
            base64.b64encode(public).decode(),
            key_id_of(public),
            "{}",
            link,
        )
    )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    jpn_key, usa_key = generate_private_key(), generate_private_key()
    jpn_store = open_store(f"sqlite:///{tmp_path / 'jpn.sqlite3'}")
    usa = Node(
        nation="USA",
        node_id="usa-1",
        store=open_store(f"sqlite:///{tmp_path / 'usa.sqlite3'}"),
        policy=load_policy(),
        private_key=usa_key,
    )
    pin(jpn_store, "usa-1", "USA", usa_key, link=True)
    pin(usa.store, "jpn-1", "JPN", jpn_key, link=False)
    client = TestClient(create_app(usa), raise_server_exceptions=False)
    yield Pair(jpn_store, jpn_key, usa, client)
    client.close()
    usa.store.close()
    jpn_store.close()


def originate(store: Store, key: bytes, count: int, banner: str) -> list[str]:
    rows = []
    for number in range(count):
        now = datetime.now(UTC)
        envelope = seal(
            Item(
                "report", parse_label(banner, owner="JPN"), ("dprk.missile",), {"text": str(number)}
            ),
            originator=Originator("jpn-1", "JPN"),
            private_key=key,
            at=now,
        )
        row = item_row(envelope)
        rows.append(
            (
                row,
                audit_entry(
                    "accept",
                    at=now,
                    actor="test",
                    item_id=envelope.id,
                    digest=row.digest,
                    kind=envelope.kind,
                    label=format_banner(envelope.label),
                ),
            )
        )
    store.append_items(rows)
    return [row.id for row, _ in rows]


def accepted(store: Store) -> list[str]:
    return [
        leaf.item_id or ""
        for leaf in store.audit_leaves(0, store.audit_size())
        if leaf.event == "accept"
    ]


def test_a_push_whose_answer_is_lost_is_resent_and_stored_once(pair: Pair) -> None:
    ids = originate(pair.jpn_store, pair.jpn_key, 30, "SECRET//REL TO USA, JPN, KOR")
    faults = Faults(lose_answer_next=1)
    transport = FaultTransport(AppTransport(pair.client), faults)
    sender = Federation(
        store=pair.jpn_store,
        policy=load_policy(),
        nation="JPN",
        node_id="jpn-1",
        private_key=pair.jpn_key,
        transport_factory=lambda: transport,
        limits=Limits(batch_items=10),
    )
    [peer] = FederationTables(pair.jpn_store).peers()
    status = sender._status.setdefault(
        "usa-1", __import__("trilat.federation.service").federation.service.LinkStatus()
    )
    with pytest.raises(PeerError, match="answer lost"):
        sender._send_next(peer, transport, status, 0)
    assert FederationTables(pair.jpn_store).cursor("usa-1") == 0  # not acknowledged: resend
    cursor = 0
    for _ in range(10):
        cursor = sender._send_next(peer, transport, status, cursor)
    assert sorted(accepted(pair.usa.store)) == sorted(ids)  # each stored exactly once
    assert len(FederationTables(pair.jpn_store).delivered_to(ids[0])) == 1


def test_a_node_catches_up_by_pulling_what_the_peer_may_release(pair: Pair) -> None:
    released = originate(pair.jpn_store, pair.jpn_key, 5, "SECRET//REL TO USA, JPN, KOR")
    kept = originate(pair.jpn_store, pair.jpn_key, 3, "SECRET//NOFORN")
    japan = Node(
        nation="JPN",
        node_id="jpn-1",
        store=pair.jpn_store,
        policy=load_policy(),
        private_key=pair.jpn_key,
    )
    with TestClient(create_app(japan), raise_server_exceptions=False) as jpn_client:
        usa_side = Federation(
            store=pair.usa.store,
            policy=load_policy(),
            nation="USA",
            node_id="usa-1",
            private_key=pair.usa._private_key,
            transport_factory=lambda: AppTransport(jpn_client),
        )
        assert usa_side.pull("jpn-1") == len(released)
        assert usa_side.pull("jpn-1") == 0  # the cursor moved on
    held = set(accepted(pair.usa.store))
    assert held == set(released)
    assert not held & set(kept)


def test_a_recall_follows_a_copy_still_on_its_way_to_the_peer(pair: Pair) -> None:
    [target] = originate(pair.jpn_store, pair.jpn_key, 1, "SECRET//REL TO USA, JPN, KOR")
    sender = Federation(
        store=pair.jpn_store,
        policy=load_policy(),
        nation="JPN",
        node_id="jpn-1",
        private_key=pair.jpn_key,
        transport_factory=lambda: AppTransport(pair.client),
    )
    [peer] = FederationTables(pair.jpn_store).peers()
    status = LinkStatus()
    first = sender._prepare(peer, status, 0)
    assert first is not None
    assert first.offered == {target}
    now = datetime.now(UTC)
    recall = seal(
        Item(
            "recall",
            parse_label("SECRET//REL TO USA, JPN, KOR", owner="JPN"),
            ("dprk.missile",),
            {"item": target, "reason": "spillage"},
        ),
        originator=Originator("jpn-1", "JPN"),
        private_key=pair.jpn_key,
        at=now,
    )
    row = item_row(recall)
    entry = audit_entry(
        "recall", at=now, actor="test", item_id=recall.id, digest=row.digest, target=target
    )
    pair.jpn_store.recall_item(target, row, entry)
    second = sender._prepare(peer, status, first.last, first.offered)
    assert second is not None
    assert second.offered == {recall.id}  # the copy in flight is followed by its recall
    transport = AppTransport(pair.client)
    for batch in (first, second):
        sender._finish(peer, status, batch, sender._push(peer, transport, batch.entries))
    held = pair.usa.store.get_item(target)
    assert held is not None
    assert held.recalled_by == recall.id
