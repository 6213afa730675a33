"""docs/audit-log.md shows what the code writes: its leaves, keys and checkpoint verify."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

from trilat.core import _crypto
from trilat.core.audit import (
    AuditEntry,
    Checkpoint,
    VerifierKey,
    cosign_checkpoint,
    decode_entry,
    encode_entry,
    format_verifier_key,
    leaf_hash,
    parse_verifier_key,
    root_of,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignature,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"
LOG_SEED = hashlib.sha256(b"trilat documentation example log key").digest()
WITNESS_SEED = hashlib.sha256(b"trilat documentation example witness key").digest()
ITEM = "018c8178-b4d3-7abc-9def-0123456789ab"


def _blocks() -> list[str]:
    return re.findall(r"```text\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def _entries() -> list[AuditEntry]:
    return [
        AuditEntry(
            "accept",
            datetime(2023, 12, 19, 9, 30, 15, 123000, tzinfo=UTC),
            actor="usa-1",
            item=ITEM,
            detail={"digest": "9f" * 32},
        ),
        AuditEntry(
            "release",
            datetime(2023, 12, 19, 9, 30, 16, tzinfo=UTC),
            actor="usa-1",
            item=ITEM,
            peer="JPN",
            decision="allow: SECRET//REL TO USA, JPN, KOR releases to JPN under US-Japan GSOMIA",
        ),
    ]


def test_documented_leaves_are_what_encode_entry_writes() -> None:
    leaves, _ = _blocks()
    lines = leaves.splitlines()
    assert lines == [encode_entry(entry).decode() for entry in _entries()]
    assert [decode_entry(line.encode()) for line in lines] == _entries()


def test_documented_checkpoint_is_reproduced_and_verifies() -> None:
    _, note = _blocks()
    log = VerifierKey("usa-1.trilat.example/audit", _crypto.public_key_of(LOG_SEED))
    witness = VerifierKey("jpn-1.trilat.example/witness", _crypto.public_key_of(WITNESS_SEED), 0x04)
    root = root_of(leaf_hash(encode_entry(entry)) for entry in _entries())
    signed = sign_checkpoint(
        Checkpoint("usa-1.trilat.example/audit", 2, root), name=log.name, private_key=LOG_SEED
    )
    cosigned = cosign_checkpoint(
        signed,
        name=witness.name,
        private_key=WITNESS_SEED,
        at=datetime(2023, 12, 19, 9, 31, tzinfo=UTC),
    )
    assert cosigned == note
    text = DOC.read_text(encoding="utf-8")
    for key in (log, witness):
        assert format_verifier_key(key) in text
    documented_log = parse_verifier_key(format_verifier_key(log))
    assert verify_checkpoint(note, documented_log).size == 2
    assert verify_cosignature(note, witness) == datetime(2023, 12, 19, 9, 31, tzinfo=UTC)
