"""Peers return their cosignatures of a node's checkpoints, so the node can show its audit log
witnessed: each is kept only when it is a valid cosignature, by the sender, of a checkpoint
of this node's own log."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.federation.support import Cluster, wait_for
from tests.federation.test_requests import Partner, Receiver, usa  # noqa: F401 - fixture
from trilat.api.node import Node
from trilat.cli.app import app
from trilat.core import audit
from trilat.core._crypto import public_key_of
from trilat.core.audit import Checkpoint
from trilat.federation.auth import sign_request
from trilat.store import open_store
from trilat.store.auditlog import audit_entry, root_at

COSIGNATURE = "/api/v1/federation/cosignature"


def _send(receiver: Receiver, sender: Partner, document: Any) -> Any:
    body = json.dumps(document).encode()
    headers = sign_request(
        method="POST",
        target=COSIGNATURE,
        body=body,
        sender=sender.node,
        receiver="usa-1",
        private_key=sender.key,
        key_id=sender.key_id,
        timestamp=int(time.time()),
    )
    return receiver.client.post(
        COSIGNATURE, content=body, headers={**headers, "content-type": "application/json"}
    )


def _cosigned(node: Node, by: Partner, *, at: datetime | None = None, note: str = "") -> str:
    return audit.cosign_checkpoint(
        note or node.checkpoint(),
        name=f"trilat/{by.node}",
        private_key=by.key,
        at=at or datetime.now(UTC),
    )


def _witnessed(receiver: Receiver) -> Any:
    return receiver.client.app.state.federation.witnessed()  # type: ignore[attr-defined]


def test_a_peer_cosignature_of_this_node_checkpoint_is_kept_once_and_merged(
    usa: Receiver,  # noqa: F811
) -> None:
    from_jpn = _cosigned(usa.node, usa.jpn)
    first = _send(usa, usa.jpn, {"checkpoint": from_jpn})
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": True}
    assert _send(usa, usa.jpn, {"checkpoint": from_jpn}).json() == {"stored": False}
    assert _send(usa, usa.kor, {"checkpoint": _cosigned(usa.node, usa.kor)}).status_code == 200

    witnessed = _witnessed(usa)
    assert witnessed["cosigners"] == ["jpn-1", "kor-1"]
    assert [p["peer"] for p in witnessed["peers"]] == ["jpn-1", "kor-1"]
    note = witnessed["checkpoint"]
    own = audit.VerifierKey("trilat/usa-1", public_key_of(usa.node._private_key))
    checkpoint = audit.verify_checkpoint(note, own, origin="trilat/usa-1")
    assert checkpoint.root == root_at(usa.node.store, checkpoint.size)
    for partner in (usa.jpn, usa.kor):
        key = audit.cosigner_key(f"trilat/{partner.node}", public_key_of(partner.key))
        audit.verify_cosignature(note, key)
    # a later cosignature by one peer moves that peer on; the note shows the newest size
    usa.node.store.append_audit([audit_entry("view", at=datetime.now(UTC), actor="analyst")])
    assert _send(usa, usa.jpn, {"checkpoint": _cosigned(usa.node, usa.jpn)}).status_code == 200
    later = _witnessed(usa)
    assert later["cosigners"] == ["jpn-1"]
    assert later["size"] == checkpoint.size + 1
    assert {p["peer"]: p["size"] for p in later["peers"]} == {
        "jpn-1": checkpoint.size + 1,
        "kor-1": checkpoint.size,
    }


def test_a_cosignature_that_proves_nothing_about_this_log_is_refused(
    usa: Receiver,  # noqa: F811
) -> None:
    node = usa.node
    node.checkpoint()
    forged_root = audit.sign_checkpoint(  # signed with this node's key, but another root
        Checkpoint("trilat/usa-1", node.store.audit_size(), bytes(32)),
        name="trilat/usa-1",
        private_key=node._private_key,
    )
    other_log = audit.sign_checkpoint(
        Checkpoint("trilat/kor-1", 1, bytes(32)), name="trilat/kor-1", private_key=usa.kor.key
    )
    cases = [
        ({"checkpoint": _cosigned(node, usa.jpn, note=forged_root)}, "not this node's log"),
        ({"checkpoint": _cosigned(node, usa.jpn, note=other_log)}, "trilat"),
        ({"checkpoint": _cosigned(node, usa.kor)}, "no cosignature by key 'trilat/jpn-1'"),
        ({"checkpoint": node.checkpoint()}, "no cosignature"),
        (
            {"checkpoint": _cosigned(node, usa.jpn, at=datetime.now(UTC) + timedelta(hours=1))},
            "future",
        ),
        ({"note": "x"}, "{'checkpoint': NOTE}"),
    ]
    for document, reason in cases:
        response = _send(usa, usa.jpn, document)
        assert response.status_code == 422, (reason, response.text)
        assert reason in response.json()["detail"], response.json()
    assert _witnessed(usa) is None


def test_three_nodes_get_their_checkpoints_cosigned_back_by_both_partners(
    cluster: Cluster,
) -> None:
    def witnessed(nation: str) -> dict[str, Any] | None:
        found = cluster.status(nation)["witnessed"]
        return found if found and len(found["peers"]) == 2 else None

    assert wait_for(lambda: all(witnessed(n) for n in cluster.nodes), timeout=60)
    keys = {}
    for node in cluster.nodes.values():
        card = json.loads(cluster.card(node.nation, node.url).read_text())
        text = card["public_key"]
        keys[card["node"]] = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    for nation, node in cluster.nodes.items():
        found = witnessed(nation)
        assert found is not None
        own = f"{nation.lower()}-1"
        assert sorted(p["peer"] for p in found["peers"]) == sorted(set(keys) - {own})
        note = found["checkpoint"]
        checkpoint = audit.verify_checkpoint(
            note, audit.VerifierKey(f"trilat/{own}", keys[own]), origin=f"trilat/{own}"
        )
        for cosigner in found["cosigners"]:
            audit.verify_cosignature(note, audit.cosigner_key(f"trilat/{cosigner}", keys[cosigner]))
        store = open_store(f"sqlite:///{node.directory / 'store.sqlite3'}")
        try:
            assert checkpoint.root == root_at(store, checkpoint.size)
        finally:
            store.close()
    # the operator's command prints the same witnessed note from the store
    node = cluster.nodes["JPN"]
    result = CliRunner().invoke(app, ["audit", "checkpoint", str(node.directory), "--witnessed"])
    assert result.exit_code == 0, result.output
    audit.verify_checkpoint(
        result.stdout, audit.VerifierKey("trilat/jpn-1", keys["jpn-1"]), origin="trilat/jpn-1"
    )
    assert len(audit.parse_checkpoint(result.stdout).signatures) >= 2


def test_the_witnessed_checkpoint_command_says_when_none_came_back(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "n"), "--nation", "USA"]).exit_code == 0
    result = runner.invoke(app, ["audit", "checkpoint", str(tmp_path / "n"), "--witnessed"])
    assert result.exit_code == 1
    assert "no partner has returned a cosignature" in result.output
