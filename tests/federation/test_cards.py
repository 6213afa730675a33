"""Node cards: self-signed, strictly parsed, pinned by ``trilat peer add``; a pinned key is
replaced only by a successor card that the pinned key endorsed."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.federation.support import TRILAT
from trilat.cli.errors import BadInput
from trilat.cli.node import init
from trilat.cli.peer import add
from trilat.core._crypto import generate_private_key
from trilat.core.errors import DecodeError, PeerError, SignatureError
from trilat.federation.cards import (
    card_document,
    check_replacement,
    make_card,
    parse_card,
)
from trilat.store import open_store
from trilat.store.federation import FederationTables

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def card_file(tmp_path: Path, name: str, document: dict[str, object]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


def jpn_card(key: bytes, previous: bytes | None = None) -> dict[str, object]:
    return card_document(
        make_card(
            nation="JPN",
            node="jpn-1",
            url="http://127.0.0.1:8702",
            private_key=key,
            issued=NOW,
            previous_private_key=previous,
        )
    )


def test_a_card_parses_back_to_itself() -> None:
    key = generate_private_key()
    card = parse_card(jpn_card(key))
    assert (card.nation, card.node, card.url) == ("JPN", "jpn-1", "http://127.0.0.1:8702")
    assert card_document(card) == jpn_card(key) | {"issued": card.issued}


def test_an_altered_card_fails_its_self_signature() -> None:
    document = jpn_card(generate_private_key())
    with pytest.raises(SignatureError):
        parse_card(dict(document, url="http://203.0.113.9:8702"))


@pytest.mark.parametrize(
    ("change", "member"),
    [
        ({"nation": "ZZZ"}, "nation"),
        ({"url": "ftp://x"}, "url"),
        ({"key_id": "0000000000000000"}, "key_id"),
        ({"extra": 1}, "extra"),
        ({"public_key": "!!"}, "public_key"),
    ],
)
def test_a_malformed_card_names_the_bad_member(change: dict[str, object], member: str) -> None:
    document = jpn_card(generate_private_key()) | change
    with pytest.raises(DecodeError, match=member):
        parse_card(document)


def test_a_key_rotates_only_by_a_successor_card_the_old_key_endorsed() -> None:
    old, new = generate_private_key(), generate_private_key()
    pinned = parse_card(jpn_card(old))
    check_replacement(pinned.public_key, parse_card(jpn_card(old)))  # same key: fine
    with pytest.raises(PeerError, match="successor"):
        check_replacement(pinned.public_key, parse_card(jpn_card(new)))
    forged = jpn_card(new, previous=old)
    forged["endorsement"] = jpn_card(new, previous=generate_private_key())["endorsement"]
    with pytest.raises(PeerError, match="not endorsed"):
        check_replacement(pinned.public_key, parse_card(forged))
    successor = parse_card(jpn_card(new, previous=old))
    check_replacement(pinned.public_key, successor)
    assert successor.previous_key_id == pinned.key_id


def test_peer_add_pins_a_card_and_refuses_an_unendorsed_replacement(tmp_path: Path) -> None:
    node_dir = tmp_path / "usa"
    init(node_dir, nation="USA", listen="127.0.0.1:8701", db=None, node_id=None)
    old, new = generate_private_key(), generate_private_key()
    add(node_dir, card_file(tmp_path, "old", jpn_card(old)), verify_only=False)
    with pytest.raises(BadInput, match="successor"):
        add(node_dir, card_file(tmp_path, "new", jpn_card(new)), verify_only=False)
    add(node_dir, card_file(tmp_path, "rotated", jpn_card(new, previous=old)), verify_only=True)
    store = open_store(f"sqlite:///{node_dir / 'store.sqlite3'}")
    try:
        [peer] = FederationTables(store).peers()
        assert peer.key_id == parse_card(jpn_card(new)).key_id
        assert peer.link is False
        events = [leaf.event for leaf in store.audit_leaves(0, store.audit_size())]
        assert events.count("peer") == 2
    finally:
        store.close()


def test_peer_export_and_add_round_trip_through_the_cli(tmp_path: Path) -> None:
    for nation in ("USA", "KOR"):
        init(tmp_path / nation, nation=nation, listen="127.0.0.1:8701", db=None, node_id=None)
    exported = subprocess.run(
        [TRILAT, "peer", "export", str(tmp_path / "KOR"), "--url", "http://127.0.0.1:8703"],
        capture_output=True,
        text=True,
        check=True,
    )
    card = card_file(tmp_path, "kor", json.loads(exported.stdout))
    added = subprocess.run(
        [TRILAT, "peer", "add", str(tmp_path / "USA"), str(card)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [TRILAT, "peer", "ls", str(tmp_path / "USA"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    [row] = json.loads(listed.stdout)
    assert row["node"] == "kor-1"
    assert row["url"] == "http://127.0.0.1:8703"
    own = subprocess.run(
        [TRILAT, "peer", "add", str(tmp_path / "KOR"), str(card)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert own.returncode == 2
    assert "own card" in own.stderr
