"""The TLS pin of a node card: signed with the card, carried by successor cards, exported by
``trilat peer export`` and pinned by ``trilat peer add``; cards without it still parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trilat.cli.errors import BadInput
from trilat.cli.node import init
from trilat.cli.peer import add, export
from trilat.config import load_settings
from trilat.core._crypto import generate_private_key
from trilat.core.errors import DecodeError, SignatureError
from trilat.federation.cards import (
    card_document,
    check_replacement,
    make_card,
    parse_card,
    pinned_tls,
)
from trilat.federation.transport import certificate_pin
from trilat.store import open_store
from trilat.store.federation import FederationTables

NOW = datetime(2026, 11, 28, tzinfo=UTC)
PIN_A, PIN_B = "a1" * 32, "b2" * 32

# A card made before cards could carry a TLS pin (key bytes 0..31, issued 2026-01-05).
OLD_CARD = {
    "type": "trilat-node-card/v1",
    "nation": "KOR",
    "node": "kor-1",
    "url": "https://kor.example:8703",
    "public_key": "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg",
    "key_id": "56475aa75463474c",
    "issued": "2026-01-05T00:00:00.000Z",
    "previous_key_id": None,
    "signature": (
        "NVen5kSH31dPMtLUxjCiOza94eUw_L1ZxyHRI1WQknB36nuvEi-SR5u3cOOQOkGYS1tXCQ5WnICVy9rvT_sUDQ"
    ),
}


def pinned_card(key: bytes, pin: str | None, previous: bytes | None = None) -> dict[str, object]:
    return card_document(
        make_card(
            nation="JPN",
            node="jpn-1",
            url="https://jpn.example:8702",
            private_key=key,
            issued=NOW,
            previous_private_key=previous,
            tls_sha256=pin,
        )
    )


def test_a_card_with_a_tls_pin_parses_back_to_itself() -> None:
    document = pinned_card(generate_private_key(), PIN_A)
    card = parse_card(document)
    assert card.tls_sha256 == PIN_A
    assert card_document(card) == document
    assert pinned_tls(json.dumps(document)) == PIN_A


def test_the_tls_pin_is_covered_by_the_card_signature() -> None:
    document = pinned_card(generate_private_key(), PIN_A)
    with pytest.raises(SignatureError):
        parse_card(dict(document, tls_sha256=PIN_B))
    stripped = {k: v for k, v in document.items() if k != "tls_sha256"}
    with pytest.raises(SignatureError):
        parse_card(stripped)


def test_a_card_made_before_tls_pins_still_parses_without_one() -> None:
    card = parse_card(OLD_CARD)
    assert card.tls_sha256 is None
    assert card_document(card) == OLD_CARD  # no member added, signature unchanged
    assert pinned_tls(json.dumps(OLD_CARD)) is None
    assert pinned_tls("{}") is None


@pytest.mark.parametrize("pin", ["A1" * 32, "a1" * 31, 7, None])
def test_a_malformed_tls_pin_is_refused(pin: object) -> None:
    document = pinned_card(generate_private_key(), PIN_A)
    with pytest.raises(DecodeError, match="tls_sha256"):
        parse_card(dict(document, tls_sha256=pin))


def test_a_tls_pin_needs_an_https_url() -> None:
    with pytest.raises(DecodeError, match="must be https"):
        make_card(
            nation="JPN",
            node="jpn-1",
            url="http://127.0.0.1:8702",
            private_key=generate_private_key(),
            issued=NOW,
            tls_sha256=PIN_A,
        )
    assert pinned_tls('{"tls_sha256": "not a pin"}') == "0" * 64  # damaged row: fails closed


def test_a_successor_card_carries_the_new_tls_pin(tmp_path: Path) -> None:
    node = tmp_path / "usa"
    init(node, nation="USA", listen="127.0.0.1:8700", db=None, node_id=None, tls=False)
    old_key, new_key = generate_private_key(), generate_private_key()
    first = tmp_path / "first.json"
    first.write_text(json.dumps(pinned_card(old_key, PIN_A)))
    add(node, first, verify_only=False)
    successor = pinned_card(new_key, PIN_B, previous=old_key)
    check_replacement(parse_card(pinned_card(old_key, PIN_A)).public_key, parse_card(successor))
    second = tmp_path / "second.json"
    second.write_text(json.dumps(successor))
    add(node, second, verify_only=False)
    store = open_store(load_settings(node).database_url)
    try:
        [peer] = FederationTables(store).peers()
    finally:
        store.close()
    assert pinned_tls(peer.card) == PIN_B
    stranger = tmp_path / "stranger.json"
    stranger.write_text(json.dumps(pinned_card(generate_private_key(), PIN_A)))
    with pytest.raises(BadInput, match="successor"):
        add(node, stranger, verify_only=False)


def test_peer_export_pins_the_tls_key_of_a_node_serving_https(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls_node, plain_node = tmp_path / "jpn", tmp_path / "kor"
    init(tls_node, nation="JPN", listen="127.0.0.1:8702", db=None, node_id=None, tls=True)
    init(plain_node, nation="KOR", listen="127.0.0.1:8703", db=None, node_id=None, tls=False)
    capsys.readouterr()
    export(tls_node, url=None)
    document = json.loads(capsys.readouterr().out)
    cert = load_settings(tls_node).tls_cert
    assert cert is not None
    assert document["url"] == "https://127.0.0.1:8702"
    assert document["tls_sha256"] == certificate_pin(cert)
    assert parse_card(document).tls_sha256 == certificate_pin(cert)
    export(plain_node, url=None)
    plain = json.loads(capsys.readouterr().out)
    assert plain["url"] == "http://127.0.0.1:8703"
    assert "tls_sha256" not in plain
    with pytest.raises(BadInput, match="https"):
        export(tls_node, url="http://jpn.example:8702")
