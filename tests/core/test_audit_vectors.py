"""Merkle proof verification against the transparency-dev vectors in ../shared/data/merkle.

Each vector file is a JSON object (inclusion: ``leafIdx``, ``treeSize``, ``root``,
``leafHash``, ``proof``; consistency: ``size1``, ``size2``, ``root1``, ``root2``, ``proof``;
hashes base64, ``proof`` may be null) with ``wantErr`` saying whether a correct verifier
must refuse it. The ``happy-path`` files are proofs over the eight-leaf reference tree of
RFC 6962's test suite, so proof *generation* is checked against them too. The
``subtreeinclusion`` and ``subtreeconsistency`` sets (``start``/``end`` of a subtree, and
``size`` of the tree for consistency) cover the subtree proofs of Merkle Tree Certificates.
"""

from __future__ import annotations

import json
from base64 import b64decode
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED_DATA
from trilat.core.audit import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    subtree_consistency_proof,
    subtree_hasher,
    subtree_inclusion_proof,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)
from trilat.core.errors import AuditError

VECTORS = SHARED_DATA / "merkle" / "vectors"


def _cases(kind: str) -> list[Path]:
    folder = VECTORS / kind
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [b64decode(node) for node in case["proof"] or []]


# The eight leaves of the reference tree (RFC 6962 test suite) that the happy paths use.
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REFERENCE_HASHES = [leaf_hash(leaf) for leaf in REFERENCE_LEAVES]


def _skip_when_absent(cases: list[Path]) -> None:
    if not cases:
        pytest.skip(f"reference data not present: {VECTORS}")


@pytest.mark.parametrize("path", _cases("inclusion"), ids=_id)
def test_inclusion_verdict_matches_vector(path: Path) -> None:
    case = _load(path)
    arguments = (
        case["leafIdx"],
        case["treeSize"],
        b64decode(case["leafHash"]),
        _proof(case),
        b64decode(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(AuditError):
            verify_inclusion(*arguments)
    else:
        verify_inclusion(*arguments)


@pytest.mark.parametrize("path", _cases("consistency"), ids=_id)
def test_consistency_verdict_matches_vector(path: Path) -> None:
    case = _load(path)
    arguments = (
        case["size1"],
        case["size2"],
        b64decode(case["root1"]),
        b64decode(case["root2"]),
        _proof(case),
    )
    if case["wantErr"]:
        with pytest.raises(AuditError):
            verify_consistency(*arguments)
    else:
        verify_consistency(*arguments)


@pytest.mark.parametrize("path", _cases("subtreeinclusion"), ids=_id)
def test_subtree_inclusion_verdict_matches_vector(path: Path) -> None:
    case = _load(path)
    arguments = (
        case["leafIdx"],
        case["start"],
        case["end"],
        b64decode(case["leafHash"]),
        _proof(case),
        b64decode(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(AuditError):
            verify_subtree_inclusion(*arguments)
    else:
        verify_subtree_inclusion(*arguments)


@pytest.mark.parametrize("path", _cases("subtreeconsistency"), ids=_id)
def test_subtree_consistency_verdict_matches_vector(path: Path) -> None:
    case = _load(path)
    arguments = (
        case["start"],
        case["end"],
        case["size"],
        b64decode(case["root1"]),
        b64decode(case["root2"]),
        _proof(case),
    )
    if case["wantErr"]:
        with pytest.raises(AuditError):
            verify_subtree_consistency(*arguments)
    else:
        verify_subtree_consistency(*arguments)


def test_vector_sets_are_complete_when_present() -> None:
    sets = {kind: _cases(kind) for kind in ("inclusion", "consistency")}
    sets |= {kind: _cases(kind) for kind in ("subtreeinclusion", "subtreeconsistency")}
    _skip_when_absent([path for paths in sets.values() for path in paths])
    for kind, paths in sets.items():
        assert len(paths) >= 90, kind
        assert sum(not _load(p)["wantErr"] for p in paths) >= 5, kind


@pytest.mark.parametrize(
    "path", [p for p in _cases("inclusion") if p.name == "happy-path.json"], ids=_id
)
def test_generated_inclusion_proof_equals_the_vector(path: Path) -> None:
    case = _load(path)
    size = case["treeSize"]
    hashes = REFERENCE_HASHES[:size]
    assert root_of(hashes) == b64decode(case["root"])
    assert inclusion_proof(case["leafIdx"], size, subtree_hasher(hashes)) == _proof(case)


@pytest.mark.parametrize(
    "path", [p for p in _cases("consistency") if p.name == "happy-path.json"], ids=_id
)
def test_generated_consistency_proof_equals_the_vector(path: Path) -> None:
    case = _load(path)
    hashes = REFERENCE_HASHES[: case["size2"]]
    assert root_of(hashes) == b64decode(case["root2"])
    assert root_of(REFERENCE_HASHES[: case["size1"]]) == b64decode(case["root1"])
    generated = consistency_proof(case["size1"], case["size2"], subtree_hasher(hashes))
    assert generated == _proof(case)


@pytest.mark.parametrize(
    "path", [p for p in _cases("subtreeinclusion") if p.name == "happy-path.json"], ids=_id
)
def test_generated_subtree_inclusion_proof_equals_the_vector(path: Path) -> None:
    case = _load(path)
    hashes = [leaf_hash(bytes([i])) for i in range(case["end"])]
    hashes[case["start"] : case["end"]] = REFERENCE_HASHES[: case["end"] - case["start"]]
    if root_of(hashes[case["start"] : case["end"]]) != b64decode(case["root"]):
        pytest.skip("the vector's subtree is not built from the reference leaves")
    proof = subtree_inclusion_proof(
        case["leafIdx"], case["start"], case["end"], subtree_hasher(hashes)
    )
    assert proof == _proof(case)


@pytest.mark.parametrize(
    "path", [p for p in _cases("subtreeconsistency") if p.name == "happy-path.json"], ids=_id
)
def test_generated_subtree_consistency_proof_equals_the_vector(path: Path) -> None:
    case = _load(path)
    hashes = REFERENCE_HASHES[: case["size"]]
    assert root_of(hashes) == b64decode(case["root2"])
    assert root_of(hashes[case["start"] : case["end"]]) == b64decode(case["root1"])
    generated = subtree_consistency_proof(
        case["start"], case["end"], case["size"], subtree_hasher(hashes)
    )
    assert generated == _proof(case)
