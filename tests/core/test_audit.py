"""The audit log primitives: hashing, compact ranges, proofs, checkpoints, entries."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilat.core import _crypto
from trilat.core.audit import (
    EMPTY_ROOT,
    AuditEntry,
    Checkpoint,
    CompactRange,
    VerifierKey,
    consistency_proof,
    cosign_checkpoint,
    cosigner_key,
    decode_entry,
    encode_entry,
    format_checkpoint,
    format_verifier_key,
    inclusion_proof,
    leaf_hash,
    merge_signatures,
    node_hash,
    parse_checkpoint,
    parse_verifier_key,
    root_of,
    sign_checkpoint,
    subtree_consistency_proof,
    subtree_hasher,
    subtree_inclusion_proof,
    verify_checkpoint,
    verify_consistency,
    verify_cosignature,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)
from trilat.core.errors import AuditError, DecodeError, SignatureError

# The leaves and roots of the reference tree of RFC 6962's test suite.
LEAVES = [
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
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]

LOG_KEY = _crypto.generate_private_key()
PEER_KEY = _crypto.generate_private_key()
LOG = VerifierKey("usa-1.trilat.example/audit", _crypto.public_key_of(LOG_KEY))
PEER = VerifierKey("jpn-1.trilat.example/witness", _crypto.public_key_of(PEER_KEY), 0x04)
AT = datetime(2023, 12, 19, 9, 30, 15, 123456, tzinfo=UTC)


def _hashes(count: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


def _perfect_only(hashes: list[bytes]) -> tuple[Callable[[int, int], bytes], list[tuple[int, int]]]:
    """A hash_range that records its calls and fails on any non-perfect subtree."""
    inner = subtree_hasher(hashes)
    calls: list[tuple[int, int]] = []

    def hash_range(start: int, end: int) -> bytes:
        width = end - start
        assert width > 0
        assert width & (width - 1) == 0, (start, end)
        assert start % width == 0, (start, end)
        calls.append((start, end))
        return inner(start, end)

    return hash_range, calls


# --- hashing and compact ranges ------------------------------------------------------------


def test_leaf_and_node_hashes_use_the_rfc6962_prefixes() -> None:
    assert leaf_hash(b"") == ROOTS[0]
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", range(1, 9))
def test_root_of_reference_tree_matches_rfc6962_suite(size: int) -> None:
    assert root_of(leaf_hash(leaf) for leaf in LEAVES[:size]) == ROOTS[size - 1]


def test_root_of_no_leaves_is_the_empty_root() -> None:
    assert root_of([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def _naive_root(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written recursively as the RFC states it."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(_naive_root(hashes[:k]), _naive_root(hashes[k:]))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300))
def test_compact_range_root_equals_the_recursive_definition_at_every_size(size: int) -> None:
    hashes = _hashes(size)
    compact = CompactRange()
    compact.extend(hashes)
    assert compact.size == size
    assert len(compact.hashes) == size.bit_count()
    assert compact.root() == _naive_root(hashes)


def test_compact_range_state_round_trips_through_bytes() -> None:
    compact = CompactRange()
    for size, leaf in enumerate(_hashes(37), start=1):
        compact.append(leaf)
        restored = CompactRange.from_bytes(compact.to_bytes())
        assert restored == compact
        assert restored.size == size
        assert restored.root() == compact.root()
    restored.append(leaf_hash(b"next"))
    assert restored.root() != compact.root()  # the copy is independent


def test_compact_range_copy_is_independent() -> None:
    compact = CompactRange()
    compact.extend(_hashes(5))
    copy = compact.copy()
    copy.append(leaf_hash(b"x"))
    assert compact.size == 5
    assert copy.size == 6


@pytest.mark.parametrize(
    "state",
    [b"", b"\x00" * 7, (3).to_bytes(8, "big") + b"\x00" * 32, (1).to_bytes(8, "big") + b"x"],
)
def test_compact_range_refuses_a_malformed_state(state: bytes) -> None:
    with pytest.raises(AuditError):
        CompactRange.from_bytes(state)


def test_compact_range_refuses_a_leaf_that_is_not_a_hash() -> None:
    with pytest.raises(AuditError, match="32 bytes"):
        CompactRange().append(b"not a hash")


# --- inclusion proofs ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 33])
def test_every_generated_inclusion_proof_verifies(size: int) -> None:
    hashes = _hashes(size)
    hash_range, calls = _perfect_only(hashes)
    root = root_of(hashes)
    for index in range(size):
        proof = inclusion_proof(index, size, hash_range)
        assert len(proof) <= (size - 1).bit_length()
        verify_inclusion(index, size, hashes[index], proof, root)
    assert len(calls) >= size - 1  # only perfect subtrees were asked for (see _perfect_only)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_verify_in_large_trees(size_index: tuple[int, int]) -> None:
    size, index = size_index
    hashes = _hashes(size)
    compact = CompactRange()
    compact.extend(hashes)
    hash_range, _ = _perfect_only(hashes)
    proof = inclusion_proof(index, size, hash_range)
    verify_inclusion(index, size, hashes[index], proof, compact.root())


def _inclusion_case() -> tuple[int, int, bytes, list[bytes], bytes]:
    hashes = _hashes(13)
    return 6, 13, hashes[6], inclusion_proof(6, 13, subtree_hasher(hashes)), root_of(hashes)


def test_inclusion_refuses_a_wrong_root() -> None:
    index, size, leaf, proof, _ = _inclusion_case()
    with pytest.raises(AuditError, match="root"):
        verify_inclusion(index, size, leaf, proof, root_of(_hashes(12)))


def test_inclusion_refuses_a_wrong_size() -> None:
    index, size, leaf, proof, root = _inclusion_case()
    # sizes 9 to 16 give leaf 6 the same path shape as 13, so only the root can tell them
    for wrong in (7, 8, 17, 2 * size):
        with pytest.raises(AuditError):
            verify_inclusion(index, wrong, leaf, proof, root)


def test_inclusion_refuses_a_wrong_index_or_leaf() -> None:
    index, size, leaf, proof, root = _inclusion_case()
    with pytest.raises(AuditError):
        verify_inclusion(index + 1, size, leaf, proof, root)
    with pytest.raises(AuditError):
        verify_inclusion(index, size, leaf_hash(b"forged"), proof, root)
    with pytest.raises(AuditError, match="outside"):
        verify_inclusion(size, size, leaf, proof, root)


def test_inclusion_refuses_a_truncated_or_extended_proof() -> None:
    index, size, leaf, proof, root = _inclusion_case()
    with pytest.raises(AuditError, match="short"):
        verify_inclusion(index, size, leaf, proof[:-1], root)
    with pytest.raises(AuditError, match="long"):
        verify_inclusion(index, size, leaf, [*proof, proof[0]], root)


def test_inclusion_refuses_a_flipped_bit_anywhere_in_the_proof() -> None:
    index, size, leaf, proof, root = _inclusion_case()
    for position in range(len(proof)):
        for byte in (0, 31):
            tampered = [bytearray(node) for node in proof]
            tampered[position][byte] ^= 0x80
            with pytest.raises(AuditError):
                verify_inclusion(index, size, leaf, [bytes(n) for n in tampered], root)


def test_inclusion_refuses_hashes_of_the_wrong_length() -> None:
    index, size, leaf, proof, root = _inclusion_case()
    with pytest.raises(AuditError, match=r"proof\[0\]"):
        verify_inclusion(index, size, leaf, [proof[0][:31], *proof[1:]], root)
    with pytest.raises(AuditError, match="leaf hash"):
        verify_inclusion(index, size, leaf + b"\x00", proof, root)


def test_inclusion_proof_generation_refuses_an_index_outside_the_tree() -> None:
    with pytest.raises(AuditError):
        inclusion_proof(3, 3, subtree_hasher(_hashes(3)))


# --- consistency proofs --------------------------------------------------------------------


def test_every_generated_consistency_proof_verifies() -> None:
    hashes = _hashes(33)
    hash_range, _ = _perfect_only(hashes)
    roots = [root_of(hashes[:n]) for n in range(34)]
    for new in range(1, 34):
        for old in range(1, new + 1):
            proof = consistency_proof(old, new, hash_range)
            verify_consistency(old, new, roots[old], roots[new], proof)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 5000).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))))
def test_consistency_proofs_verify_in_large_trees(sizes: tuple[int, int]) -> None:
    old, new = sizes
    hashes = _hashes(new)
    hash_range, _ = _perfect_only(hashes)
    proof = consistency_proof(old, new, hash_range)
    verify_consistency(old, new, root_of(hashes[:old]), root_of(hashes), proof)


def _consistency_case() -> tuple[int, int, bytes, bytes, list[bytes]]:
    hashes = _hashes(21)
    proof = consistency_proof(11, 21, subtree_hasher(hashes))
    return 11, 21, root_of(hashes[:11]), root_of(hashes), proof


def test_consistency_refuses_a_rewritten_history() -> None:
    old, new, old_root, _, _ = _consistency_case()
    rewritten = _hashes(21)
    rewritten[3] = leaf_hash(b"rewritten")
    proof = consistency_proof(old, new, subtree_hasher(rewritten))
    with pytest.raises(AuditError, match="root"):
        verify_consistency(old, new, old_root, root_of(rewritten), proof)


def test_consistency_refuses_wrong_roots_and_sizes() -> None:
    old, new, old_root, new_root, proof = _consistency_case()
    with pytest.raises(AuditError, match=f"size {old}"):
        verify_consistency(old, new, root_of(_hashes(10)), new_root, proof)
    with pytest.raises(AuditError, match=f"size {new}"):
        verify_consistency(old, new, old_root, root_of(_hashes(22)), proof)
    with pytest.raises(AuditError):
        verify_consistency(old, new, new_root, old_root, proof)
    # a new size from 17 to 32 gives the same proof shape as 21: only the roots tell them apart
    for wrong_old, wrong_new in ((10, new), (12, new), (15, new), (old, 16), (old, 33)):
        with pytest.raises(AuditError):
            verify_consistency(wrong_old, wrong_new, old_root, new_root, proof)
    with pytest.raises(AuditError, match="shrank"):
        verify_consistency(new, old, new_root, old_root, proof)


def test_consistency_refuses_a_truncated_or_extended_proof() -> None:
    old, new, old_root, new_root, proof = _consistency_case()
    with pytest.raises(AuditError):
        verify_consistency(old, new, old_root, new_root, proof[:-1])
    with pytest.raises(AuditError, match="long"):
        verify_consistency(old, new, old_root, new_root, [*proof, proof[0]])
    with pytest.raises(AuditError, match="empty"):
        verify_consistency(old, new, old_root, new_root, [])


def test_consistency_of_equal_sizes_needs_equal_roots_and_no_proof() -> None:
    _, new, _, new_root, proof = _consistency_case()
    verify_consistency(new, new, new_root, new_root, [])
    with pytest.raises(AuditError, match="different roots"):
        verify_consistency(new, new, new_root, EMPTY_ROOT, [])
    with pytest.raises(AuditError, match="empty"):
        verify_consistency(new, new, new_root, new_root, proof)


def test_consistency_from_the_empty_tree_proves_nothing_and_is_refused() -> None:
    with pytest.raises(AuditError, match="empty tree"):
        verify_consistency(0, 5, EMPTY_ROOT, root_of(_hashes(5)), [])
    assert consistency_proof(0, 5, subtree_hasher(_hashes(5))) == []


def test_consistency_proof_generation_refuses_a_shrinking_tree() -> None:
    with pytest.raises(AuditError):
        consistency_proof(6, 5, subtree_hasher(_hashes(6)))


# --- subtree proofs ------------------------------------------------------------------------


def _subtrees(size: int) -> list[tuple[int, int]]:
    found = []
    for start in range(size):
        for end in range(start + 1, size + 1):
            width = 1 << (end - start - 1).bit_length()
            if start % width == 0:
                found.append((start, end))
    return found


def test_every_generated_subtree_consistency_proof_verifies() -> None:
    for size in (1, 2, 5, 8, 13, 21):
        hashes = _hashes(size)
        hash_range, _ = _perfect_only(hashes)
        root = root_of(hashes)
        for start, end in _subtrees(size):
            proof = subtree_consistency_proof(start, end, size, hash_range)
            verify_subtree_consistency(start, end, size, root_of(hashes[start:end]), root, proof)
            if start == 0 and end < size:
                assert proof == consistency_proof(end, size, hash_range)


def test_subtree_consistency_refuses_a_foreign_subtree_or_tree() -> None:
    hashes = _hashes(21)
    proof = subtree_consistency_proof(8, 12, 21, subtree_hasher(hashes))
    subtree_root, root = root_of(hashes[8:12]), root_of(hashes)
    verify_subtree_consistency(8, 12, 21, subtree_root, root, proof)
    with pytest.raises(AuditError, match="does not rebuild"):
        verify_subtree_consistency(8, 12, 21, root_of(hashes[8:11]), root, proof)
    with pytest.raises(AuditError, match="size 21"):
        verify_subtree_consistency(8, 12, 21, subtree_root, root_of(hashes[:20]), proof)
    with pytest.raises(AuditError, match="short"):
        verify_subtree_consistency(8, 12, 21, subtree_root, root, proof[:-1])
    with pytest.raises(AuditError, match="long"):
        verify_subtree_consistency(8, 12, 21, subtree_root, root, [*proof, proof[0]])
    with pytest.raises(AuditError, match="not a subtree"):
        verify_subtree_consistency(6, 12, 21, subtree_root, root, proof)
    with pytest.raises(AuditError, match="beyond"):
        verify_subtree_consistency(16, 24, 21, subtree_root, root, proof)


def test_every_generated_subtree_inclusion_proof_verifies() -> None:
    hashes = _hashes(13)
    hash_range, _ = _perfect_only(hashes)
    for start, end in _subtrees(13):
        subtree_root = root_of(hashes[start:end])
        for index in range(start, end):
            proof = subtree_inclusion_proof(index, start, end, hash_range)
            verify_subtree_inclusion(index, start, end, hashes[index], proof, subtree_root)
    with pytest.raises(AuditError, match="outside"):
        subtree_inclusion_proof(3, 4, 8, hash_range)
    with pytest.raises(AuditError, match="not a subtree"):
        subtree_inclusion_proof(3, 3, 5, hash_range)


def test_an_empty_subtree_is_consistent_with_any_tree_by_the_empty_root() -> None:
    verify_subtree_consistency(2, 2, 5, EMPTY_ROOT, root_of(_hashes(5)), [])
    with pytest.raises(AuditError, match="empty subtree"):
        verify_subtree_consistency(2, 2, 5, leaf_hash(b""), root_of(_hashes(5)), [])
    assert subtree_consistency_proof(2, 2, 5, subtree_hasher(_hashes(5))) == []


# --- verifier keys ---------------------------------------------------------------------------

# The verifier and signer keys published with golang.org/x/mod/sumdb/note (its doc example).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]


def test_verifier_key_id_follows_the_signed_note_rule() -> None:
    key = parse_verifier_key(GO_VKEY)
    assert key.name == "PeterNeumann"
    assert key.key_id.hex() == "c74f20a3"
    assert key.public_key == _crypto.public_key_of(GO_SEED)
    assert format_verifier_key(key) == GO_VKEY


def test_verifier_key_round_trips_for_cosigners() -> None:
    assert parse_verifier_key(format_verifier_key(PEER)) == PEER
    assert format_verifier_key(PEER).startswith("jpn-1.trilat.example/witness+")


@pytest.mark.parametrize(
    "text",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+c74f20a3+AhpnZNkHFDwxDEHoMMW84SqogX7FZJqqvywxOIs1stdE1g==",  # type 0x02
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(DecodeError):
        parse_verifier_key(text)


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "tab\tname"])
def test_key_names_with_spaces_or_plus_are_refused(name: str) -> None:
    with pytest.raises(AuditError, match="key name"):
        VerifierKey(name, LOG.public_key)


# --- checkpoints -----------------------------------------------------------------------------

CHECKPOINT = Checkpoint("usa-1.trilat.example/audit", 21, root_of(_hashes(21)))


def test_checkpoint_text_is_origin_size_root_and_extensions() -> None:
    root = base64.b64encode(CHECKPOINT.root).decode()
    assert format_checkpoint(CHECKPOINT) == f"usa-1.trilat.example/audit\n21\n{root}\n"
    extended = Checkpoint(CHECKPOINT.origin, 21, CHECKPOINT.root, ("Timestamp: 1702978215",))
    assert format_checkpoint(extended).endswith(f"{root}\nTimestamp: 1702978215\n")


def test_signed_checkpoint_verifies_and_parses_back() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    assert verify_checkpoint(note, LOG, origin=CHECKPOINT.origin) == CHECKPOINT
    signed = parse_checkpoint(note)
    assert signed.checkpoint == CHECKPOINT
    assert signed.text == format_checkpoint(CHECKPOINT)
    assert [(s.name, s.key_id) for s in signed.signatures] == [(LOG.name, LOG.key_id)]
    line = note.split("\n\n")[1]
    assert line.startswith("— usa-1.trilat.example/audit ")
    assert len(base64.b64decode(line.split(" ")[2])) == 4 + 64


def test_checkpoint_with_extensions_signs_them() -> None:
    extended = Checkpoint(CHECKPOINT.origin, 21, CHECKPOINT.root, ("Timestamp: 1702978215",))
    note = sign_checkpoint(extended, name=LOG.name, private_key=LOG_KEY)
    assert verify_checkpoint(note, LOG) == extended
    with pytest.raises(SignatureError):
        verify_checkpoint(note.replace("1702978215", "1702978216"), LOG)


def test_checkpoint_refuses_a_changed_size_or_root() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    with pytest.raises(SignatureError):
        verify_checkpoint(note.replace("\n21\n", "\n22\n", 1), LOG)
    other_root = base64.b64encode(root_of(_hashes(20))).decode()
    with pytest.raises(SignatureError):
        verify_checkpoint(note.replace(base64.b64encode(CHECKPOINT.root).decode(), other_root), LOG)


def test_checkpoint_refuses_another_key_under_the_same_name() -> None:
    impostor = _crypto.generate_private_key()
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=impostor)
    with pytest.raises(AuditError, match="no signature"):  # key ID differs: ignored
        verify_checkpoint(note, LOG)


def test_checkpoint_refuses_the_right_key_under_a_wrong_name() -> None:
    note = sign_checkpoint(CHECKPOINT, name="kor-1.trilat.example/audit", private_key=LOG_KEY)
    with pytest.raises(AuditError, match="no signature"):
        verify_checkpoint(note, LOG)


def test_checkpoint_refuses_a_bad_signature_from_the_known_key() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    text, line = note.split("\n\n")
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 1
    forged = f"{text}\n\n— {LOG.name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(SignatureError):
        verify_checkpoint(forged, LOG)


def test_checkpoint_refuses_a_different_origin() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    with pytest.raises(AuditError, match="origin"):
        verify_checkpoint(note, LOG, origin="jpn-1.trilat.example/audit")


def test_checkpoint_is_not_verified_with_a_cosigner_key() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    with pytest.raises(AuditError, match="0x01"):
        verify_checkpoint(note, VerifierKey(LOG.name, LOG.public_key, 0x04))


ROOT_LINE = base64.b64encode(CHECKPOINT.root).decode()
SIG_LINE = "— log " + base64.b64encode(b"\x01\x02\x03\x04" + b"s" * 64).decode()


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (f"origin\n21\n{ROOT_LINE}\n{SIG_LINE}\n", "blank line"),
        (f"origin\n21\n{ROOT_LINE}\n\n{SIG_LINE}", "blank line"),
        (f"origin\n021\n{ROOT_LINE}\n\n{SIG_LINE}\n", "line 2"),
        (f"origin\n-1\n{ROOT_LINE}\n\n{SIG_LINE}\n", "line 2"),
        (f"origin\n{2**64}\n{ROOT_LINE}\n\n{SIG_LINE}\n", "line 2"),
        (f"origin\n21\n{ROOT_LINE[:-4]}\n\n{SIG_LINE}\n", "line 3"),
        (f"origin\n21\nnot base64!\n\n{SIG_LINE}\n", "line 3"),
        (f"\n21\n{ROOT_LINE}\n\n{SIG_LINE}\n", "origin"),
        (f"origin\n21\n\n{SIG_LINE}\n", "origin, size and root"),
        (f"origin\n21\n{ROOT_LINE}\nok\n\n\n{SIG_LINE}\n", "line 5"),
        (f"origin\n21\n{ROOT_LINE}\n\n- log AAAA\n", "signature line 1"),
        (f"origin\n21\n{ROOT_LINE}\n\n— lo+g {SIG_LINE[6:]}\n", "key name"),
        (f"origin\n21\n{ROOT_LINE}\n\n— log AQID\n", "too short"),
        (f"orig\tin\n21\n{ROOT_LINE}\n\n{SIG_LINE}\n", "control"),
        (f"origin\n21\n{ROOT_LINE}\n\n" + f"{SIG_LINE}\n" * 65, "more than"),
    ],
)
def test_malformed_checkpoint_notes_are_refused_naming_the_line(note: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        parse_checkpoint(note)


def test_checkpoint_accepts_sixteen_signatures_and_ignores_unknown_ones() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    note += "".join(f"{SIG_LINE.replace('log', f'other{i}')}\n" for i in range(15))
    assert len(parse_checkpoint(note).signatures) == 16
    assert verify_checkpoint(note, LOG) == CHECKPOINT


@pytest.mark.parametrize(
    "build",
    [
        lambda: Checkpoint("", 1, EMPTY_ROOT),
        lambda: Checkpoint("two\nlines", 1, EMPTY_ROOT),
        lambda: Checkpoint("origin", -1, EMPTY_ROOT),
        lambda: Checkpoint("origin", 1, b"short"),
        lambda: Checkpoint("origin", 1, EMPTY_ROOT, ("",)),
    ],
)
def test_checkpoints_with_bad_fields_cannot_be_built(build: Callable[[], Checkpoint]) -> None:
    with pytest.raises(AuditError):
        build()


# --- cosignatures ----------------------------------------------------------------------------


def test_peer_cosignature_verifies_and_tells_its_time() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    cosigned = cosign_checkpoint(note, name=PEER.name, private_key=PEER_KEY, at=AT)
    assert cosigned.startswith(note)
    assert verify_cosignature(cosigned, PEER) == AT.replace(microsecond=0)
    assert verify_checkpoint(cosigned, LOG) == CHECKPOINT  # the log signature still counts


def test_cosignatures_returned_by_two_peers_merge_into_one_witnessed_note() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    other_key = _crypto.generate_private_key()
    other = cosigner_key("kor-1.trilat.example/witness", _crypto.public_key_of(other_key))
    by_peer = cosign_checkpoint(note, name=PEER.name, private_key=PEER_KEY, at=AT)
    by_other = cosign_checkpoint(note, name=other.name, private_key=other_key, at=AT)
    merged = merge_signatures(note, by_peer, by_other, by_peer)  # a repeat adds nothing
    assert len(parse_checkpoint(merged).signatures) == 3
    assert verify_checkpoint(merged, LOG) == CHECKPOINT
    assert verify_cosignature(merged, PEER) == verify_cosignature(merged, other)
    assert merge_signatures(merged, note) == merged
    later = sign_checkpoint(
        Checkpoint(CHECKPOINT.origin, CHECKPOINT.size + 1, EMPTY_ROOT),
        name=LOG.name,
        private_key=LOG_KEY,
    )
    with pytest.raises(DecodeError, match="another checkpoint"):
        merge_signatures(note, later)


def test_cosignature_time_is_utc_whatever_the_zone_given() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    seoul = AT.astimezone(timezone(timedelta(hours=9)))
    cosigned = cosign_checkpoint(note, name=PEER.name, private_key=PEER_KEY, at=seoul)
    assert verify_cosignature(cosigned, PEER) == AT.replace(microsecond=0)


def test_cosignature_covers_the_checkpoint_body() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    cosigned = cosign_checkpoint(note, name=PEER.name, private_key=PEER_KEY, at=AT)
    with pytest.raises(SignatureError):
        verify_cosignature(cosigned.replace("\n21\n", "\n20\n", 1), PEER)


def test_cosignature_refuses_a_changed_timestamp() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    cosigned = cosign_checkpoint(note, name=PEER.name, private_key=PEER_KEY, at=AT)
    last = cosigned.rstrip("\n").split("\n")[-1]
    raw = bytearray(base64.b64decode(last.split(" ")[2]))
    raw[4 + 7] ^= 1  # the low byte of the timestamp
    forged = cosigned.replace(last, f"— {PEER.name} {base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(SignatureError):
        verify_cosignature(forged, PEER)


def test_cosignature_missing_or_under_another_key_is_refused() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    with pytest.raises(AuditError, match="no cosignature"):
        verify_cosignature(note, PEER)
    other = _crypto.generate_private_key()
    cosigned = cosign_checkpoint(note, name=PEER.name, private_key=other, at=AT)
    with pytest.raises(AuditError, match="no cosignature"):
        verify_cosignature(cosigned, PEER)
    with pytest.raises(AuditError, match="0x04"):
        verify_cosignature(cosigned, LOG)


def test_a_log_signature_is_not_a_cosignature_with_the_same_key() -> None:
    note = sign_checkpoint(CHECKPOINT, name=PEER.name, private_key=PEER_KEY)
    with pytest.raises(AuditError, match="no cosignature"):  # type 0x01 and 0x04 IDs differ
        verify_cosignature(note, PEER)


def test_cosigning_refuses_a_naive_time() -> None:
    note = sign_checkpoint(CHECKPOINT, name=LOG.name, private_key=LOG_KEY)
    with pytest.raises(ValueError, match="naive"):
        cosign_checkpoint(note, name=PEER.name, private_key=PEER_KEY, at=datetime(2023, 1, 1))


# A checkpoint published by the transparency.dev staging CT log (arche2025h1), with its
# Ed25519 note signature and tlog-cosignature v1 lines from public witnesses; the keys
# are the log's and witnesses' published verifier keys.
REAL_NOTE = """arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
"""  # noqa: E501 - signature lines are as published
REAL_LOG = (
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
)
REAL_WITNESSES = (
    "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
    "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
    "witness1.smartit.nu/witness1+a48c820f+BPSFWg9G6KPiO7QPryYO5Xq4oYJJ+kAvLKLSimDhoxMO",
)


def test_published_checkpoint_verifies_with_the_logs_key() -> None:
    checkpoint = verify_checkpoint(REAL_NOTE, parse_verifier_key(REAL_LOG))
    assert checkpoint.origin == "arche2025h1.staging.ct.transparency.dev"
    assert checkpoint.size == 1432088532


@pytest.mark.parametrize("vkey", REAL_WITNESSES)
def test_published_witness_cosignatures_verify(vkey: str) -> None:
    at = verify_cosignature(REAL_NOTE, parse_verifier_key(vkey))
    assert at == datetime.fromtimestamp(0x6A122120, UTC)


def test_published_checkpoint_with_a_changed_size_fails_every_signature() -> None:
    tampered = REAL_NOTE.replace("1432088532", "1432088533")
    with pytest.raises(SignatureError):
        verify_checkpoint(tampered, parse_verifier_key(REAL_LOG))
    for vkey in REAL_WITNESSES:
        with pytest.raises(SignatureError):
            verify_cosignature(tampered, parse_verifier_key(vkey))


# --- audit entries -------------------------------------------------------------------------

ITEM = "018c8178-b4d3-7abc-9def-0123456789ab"


def test_entry_encodes_as_canonical_json_without_absent_members() -> None:
    entry = AuditEntry(
        "release",
        AT,
        actor="usa-1",
        item=ITEM,
        peer="JPN",
        decision="allow: SECRET//REL TO USA, JPN, KOR releases to JPN under TISA",
        detail={"route": ("USA", "JPN"), "digest": "ab" * 32},
    )
    assert encode_entry(entry) == (
        b'{"actor":"usa-1","at":"2023-12-19T09:30:15.123Z",'
        b'"decision":"allow: SECRET//REL TO USA, JPN, KOR releases to JPN under TISA",'
        b'"digest":"' + b"ab" * 32 + b'","event":"release",'
        b'"item":"018c8178-b4d3-7abc-9def-0123456789ab","peer":"JPN","route":["USA","JPN"]}'
    )
    assert encode_entry(AuditEntry("user", AT, actor="admin")) == (
        b'{"actor":"admin","at":"2023-12-19T09:30:15.123Z","event":"user"}'
    )


def test_entry_decodes_back_to_the_same_entry() -> None:
    entry = AuditEntry(
        "refuse",
        AT,
        actor="kor-1",
        item=ITEM,
        peer="JPN",
        decision="deny: no consent",
        detail={"count": 3, "relayed": True, "note": None},
    )
    decoded = decode_entry(encode_entry(entry))
    assert decoded == entry
    assert hash(decoded) == hash(entry)
    assert decoded.at == AT.replace(microsecond=123000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "object"),
        (b'{"actor":"a","at":"2023-12-19T09:30:15.123Z"}', "'event'"),
        (b'{"actor":"a","at":"2023-12-19T09:30:15Z","event":"view"}', "'at'"),
        (b'{"actor":"a","at":"2023-12-19T09:30:15.123Z","event":"gossip"}', "unknown audit event"),
        (b'{"actor":"a","at":"2023-12-19T09:30:15.123Z","event":"view","item":7}', "'item'"),
        (b'{"event":"view","actor":"a","at":"2023-12-19T09:30:15.123Z"}', "canonical"),
        (b'{"actor":"a","at":"2023-12-19T09:30:15.123Z","event":"view","x":1.5}', "unsupported"),
    ],
)
def test_entry_decoder_refuses_malformed_leaves(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_entry(data)


def test_entry_refuses_unknown_events_naive_times_and_shadowing_detail() -> None:
    with pytest.raises(AuditError, match="unknown audit event"):
        AuditEntry("leak", AT, actor="usa-1")
    with pytest.raises(AuditError, match="naive"):
        AuditEntry("view", datetime(2023, 1, 1), actor="usa-1")
    with pytest.raises(AuditError, match="'event'"):
        AuditEntry("view", AT, actor="usa-1", detail={"event": "accept"})
    with pytest.raises(AuditError, match="actor"):
        AuditEntry("view", AT, actor="")
    with pytest.raises(AuditError, match="2\\*\\*53"):
        AuditEntry("view", AT, actor="usa-1", detail={"count": 2**60})
    with pytest.raises(AuditError, match="strings only"):
        AuditEntry("view", AT, actor="usa-1", detail={"route": ("USA", 1)})  # type: ignore[dict-item]


def test_entry_leaves_form_a_verifiable_log() -> None:
    entries = [
        AuditEntry("accept", AT + timedelta(seconds=i), actor="usa-1", item=ITEM) for i in range(9)
    ]
    hashes = [leaf_hash(encode_entry(entry)) for entry in entries]
    compact = CompactRange()
    compact.extend(hashes)
    proof = inclusion_proof(4, 9, subtree_hasher(hashes))
    verify_inclusion(4, 9, leaf_hash(encode_entry(entries[4])), proof, compact.root())
