"""``trilat peer export|add|ls``: node cards out and in (SPEC §9).

``export`` prints this node's self-signed card (nation, node id, URL, Ed25519 public key,
key id, and the SPKI SHA-256 pin of its TLS certificate when it serves HTTPS); ``add``
pins a partner's card, TLS pin included, after which the running node links to it within
a second. A card for a node pinned under another key is accepted only as a successor card
endorsed by the pinned key. ``--verify-only`` pins a key without a link: items the node
relays from that originator verify, but nothing is pushed to it.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from trilat.api.app import read_private_key
from trilat.cli.errors import BadInput, stderr
from trilat.cli.node import tls_pin
from trilat.config import ConfigError, Settings, load_settings
from trilat.core.errors import DecodeError, PeerError, SignatureError
from trilat.federation.cards import card_document, check_replacement, make_card, parse_card
from trilat.store import open_store
from trilat.store.auditlog import audit_entry
from trilat.store.federation import FederationTables, PeerRow

app = typer.Typer(help="Exchange node cards with partner nodes.", no_args_is_help=True)

NodeDir = Annotated[Path, typer.Argument(help="The node directory made by `trilat init`.")]


def _settings(node_dir: Path) -> Settings:
    try:
        return load_settings(node_dir)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc


@app.command("export")
def export(
    node_dir: NodeDir,
    url: Annotated[
        str | None, typer.Option("--url", help="URL partners reach this node at.")
    ] = None,
) -> None:
    """Print this node's card as JSON (give it to partners for `trilat peer add`); a node
    serving HTTPS adds the pin of its TLS key (`tls_sha256`)."""
    settings = _settings(node_dir)
    pin = tls_pin(settings)
    address = url or f"{'https' if pin else 'http'}://{settings.listen}"
    if pin is not None and not address.startswith("https://"):
        raise BadInput(f"--url: this node serves HTTPS; give an https:// URL, not {address!r}")
    try:
        card = make_card(
            nation=settings.nation,
            node=settings.node_id,
            url=address,
            private_key=read_private_key(settings.key_path),
            issued=datetime.now(UTC),
            tls_sha256=pin,
        )
    except DecodeError as exc:
        raise BadInput(f"--url: {exc}") from exc
    print(json.dumps(card_document(card), indent=2, sort_keys=True))


@app.command("add")
def add(
    node_dir: NodeDir,
    card_file: Annotated[Path, typer.Argument(help="A partner's card from `trilat peer export`.")],
    verify_only: Annotated[
        bool, typer.Option("--verify-only", help="Pin the key for verification; no link.")
    ] = False,
) -> None:
    """Pin a partner node's card (its key verifies everything that node signs)."""
    settings = _settings(node_dir)
    try:
        document = json.loads(card_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"cannot read {card_file}: {exc.strerror}") from exc
    except ValueError as exc:
        raise BadInput(f"{card_file}: not JSON ({exc})") from exc
    try:
        card = parse_card(document)
    except DecodeError as exc:
        raise BadInput(f"{card_file}: {exc}") from exc
    except SignatureError:
        raise BadInput(f"{card_file}: the card's self-signature does not verify") from None
    if card.node == settings.node_id:
        raise BadInput(f"{card_file}: that is this node's own card ({card.node})")
    store = open_store(settings.database_url)
    try:
        tables = FederationTables(store)
        pinned = {peer.node_id: peer for peer in tables.peers()}
        old = pinned.get(card.node)
        if old is not None:
            if old.nation != card.nation:
                raise BadInput(
                    f"node {card.node} is pinned as {old.nation}, card says {card.nation}"
                )
            try:
                check_replacement(base64.b64decode(old.public_key), card)
            except PeerError as exc:
                raise BadInput(f"{card_file}: {exc}") from exc
        tables.put_peer(
            PeerRow(
                node_id=card.node,
                nation=card.nation,
                url=card.url,
                public_key=base64.b64encode(card.public_key).decode("ascii"),
                key_id=card.key_id,
                card=json.dumps(card_document(card), sort_keys=True),
                link=not verify_only,
            )
        )
        tables.audit(
            [
                audit_entry(
                    "peer",
                    at=datetime.now(UTC),
                    actor="cli",
                    peer=card.node,
                    decision="allow: card pinned" if old is None else "allow: card replaced",
                    nation=card.nation,
                    key_id=card.key_id,
                    url=card.url,
                    link=not verify_only,
                )
            ]
        )
    finally:
        store.close()
    stderr.print(
        f"pinned {card.node} ({card.nation}) key {card.key_id} at {card.url}"
        + (f" TLS key {card.tls_sha256[:16]}…" if card.tls_sha256 else "")
        + (" (verify only)" if verify_only else "")
    )


@app.command("ls")
def ls(
    node_dir: NodeDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the pinned peers."""
    settings = _settings(node_dir)
    store = open_store(settings.database_url)
    try:
        peers = FederationTables(store).peers()
    finally:
        store.close()
    rows = [
        {"node": p.node_id, "nation": p.nation, "url": p.url, "key_id": p.key_id, "link": p.link}
        for p in peers
    ]
    if as_json:
        print(json.dumps(rows, sort_keys=True))
        return
    for row in rows:
        link = "link" if row["link"] else "verify-only"
        print(f"{row['node']}\t{row['nation']}\t{row['url']}\t{row['key_id']}\t{link}")


def register(main: typer.Typer) -> None:
    """Add ``trilat peer`` to the ``trilat`` app."""
    main.add_typer(app, name="peer")
