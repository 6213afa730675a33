"""The tamper-evident audit log: Merkle hashing, proofs, checkpoints, cosignatures (SPEC §5).

Hashing is RFC 6962 / RFC 9162 §2.1: a leaf hashes as SHA-256(0x00 || data), an interior
node as SHA-256(0x01 || left || right), and the empty tree as SHA-256(""). Proofs follow
RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency); verification agrees with the
transparency-dev test vectors.

A store never has to hold the tree in memory: :class:`CompactRange` keeps one hash per set
bit of the size (append in O(log n), root at any time, state storable as bytes), and proof
generation asks a ``hash_range(start, end)`` callable only for *perfect* subtrees (``end -
start`` a power of two and ``start`` a multiple of it), which a store can compute or cache.

Checkpoints are C2SP ``tlog-checkpoint`` signed notes (Ed25519 note signatures, signature
type 0x01); peers countersign them with C2SP ``tlog-cosignature`` v1 (timestamped Ed25519,
signature type 0x04). :class:`AuditEntry` is the leaf a node appends, encoded as RFC 8785
canonical JSON by :func:`encode_entry`.

No IO. Deterministic (times are arguments). Verification failures raise AuditError, or
SignatureError when a signature made by a known key does not verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from trilat.core import _crypto
from trilat.core.canonical import canonical_json
from trilat.core.clock import format_time
from trilat.core.errors import AuditError, DecodeError, SignatureError

__all__ = [
    "EMPTY_ROOT",
    "EVENTS",
    "HASH_SIZE",
    "AuditEntry",
    "Checkpoint",
    "CompactRange",
    "HashRange",
    "NoteSignature",
    "SignedCheckpoint",
    "VerifierKey",
    "consistency_proof",
    "cosign_checkpoint",
    "cosigner_key",
    "decode_entry",
    "encode_entry",
    "format_checkpoint",
    "format_verifier_key",
    "inclusion_proof",
    "leaf_hash",
    "merge_signatures",
    "node_hash",
    "parse_checkpoint",
    "parse_verifier_key",
    "root_of",
    "sign_checkpoint",
    "subtree_consistency_proof",
    "subtree_hasher",
    "subtree_inclusion_proof",
    "verify_checkpoint",
    "verify_consistency",
    "verify_cosignature",
    "verify_inclusion",
    "verify_subtree_consistency",
    "verify_subtree_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""The RFC 6962 root of the empty tree: SHA-256 of the empty string."""

HashRange = Callable[[int, int], bytes]
"""``hash_range(start, end)``: the root of the perfect subtree over leaves [start, end)."""


# --- hashing -----------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below *size* (RFC 9162 §2.1.1), for size ≥ 2."""
    return 1 << ((size - 1).bit_length() - 1)


def _is_perfect(start: int, end: int) -> bool:
    width = end - start
    return width > 0 and width & (width - 1) == 0 and start % width == 0


class CompactRange:
    """The roots of the perfect subtrees that make up a log of ``size`` leaves.

    ``hashes`` holds one root per set bit of ``size``, the largest (leftmost) subtree
    first, so appending and taking the root cost O(log n) and the whole state is a few
    hundred bytes (:meth:`to_bytes`) that a store can persist beside its leaves.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise AuditError(f"compact range size is negative: {size}")
        if len(hashes) != size.bit_count():
            raise AuditError(
                f"compact range of size {size} needs {size.bit_count()} hashes, got {len(hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in hashes):
            raise AuditError("compact range hashes must be 32 bytes each")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf, given as its leaf hash (see :func:`leaf_hash`)."""
        if len(leaf) != HASH_SIZE:
            raise AuditError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        self.hashes.append(leaf)
        carry = self.size
        while carry & 1:  # merge equal-height subtrees, one per trailing set bit
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            carry >>= 1
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The RFC 6962 root of the leaves so far (:data:`EMPTY_ROOT` when there are none)."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.hashes))

    def to_bytes(self) -> bytes:
        """The state as bytes: the size as 8 bytes big-endian, then the hashes."""
        return self.size.to_bytes(8, "big") + b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        """Restore a range saved with :meth:`to_bytes`; raises AuditError if malformed."""
        if len(data) < 8 or (len(data) - 8) % HASH_SIZE:
            raise AuditError(f"compact range state has a bad length: {len(data)} bytes")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        hashes = [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
        return cls(size, hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self.size == other.size and self.hashes == other.hashes

    def __hash__(self) -> int:
        return hash((self.size, tuple(self.hashes)))

    def __repr__(self) -> str:
        return f"CompactRange(size={self.size}, root={self.root().hex()[:16]}…)"


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """The RFC 6962 Merkle tree hash of a list of leaf hashes."""
    compact = CompactRange()
    compact.extend(leaf_hashes)
    return compact.root()


def subtree_hasher(leaf_hashes: Sequence[bytes]) -> HashRange:
    """A ``hash_range`` over leaf hashes held in memory (small logs, tests, tools)."""

    def hash_range(start: int, end: int) -> bytes:
        if not 0 <= start < end <= len(leaf_hashes):
            raise AuditError(f"range [{start}, {end}) is outside {len(leaf_hashes)} leaves")
        return root_of(leaf_hashes[start:end])

    return hash_range


# --- proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1) -------------------------------------


def _range_root(start: int, end: int, hash_range: HashRange) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned, asking only for perfect trees."""
    if _is_perfect(start, end):
        return hash_range(start, end)
    k = _split(end - start)
    return node_hash(hash_range(start, start + k), _range_root(start + k, end, hash_range))


def inclusion_proof(index: int, size: int, hash_range: HashRange) -> list[bytes]:
    """The audit path of leaf *index* in the tree of *size* leaves, leaf level first."""
    if not 0 <= index < size:
        raise AuditError(f"leaf index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    start, width, offset = 0, size, index
    siblings: list[tuple[int, int]] = []
    while width > 1:
        k = _split(width)
        if offset < k:
            siblings.append((start + k, start + width))
            width = k
        else:
            siblings.append((start, start + k))
            start, width, offset = start + k, width - k, offset - k
    for sibling_start, sibling_end in reversed(siblings):
        proof.append(_range_root(sibling_start, sibling_end, hash_range))
    return proof


def consistency_proof(old_size: int, new_size: int, hash_range: HashRange) -> list[bytes]:
    """The proof that the tree of *new_size* leaves extends the one of *old_size* leaves.

    Empty when the sizes are equal or the old tree is empty (nothing to prove).
    """
    if not 0 <= old_size <= new_size:
        raise AuditError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    nodes: list[tuple[int, int]] = []
    start, width, m, complete = 0, new_size, old_size, True
    while m != width:
        k = _split(width)
        if m <= k:
            nodes.append((start + k, start + width))
            width = k
        else:
            nodes.append((start, start + k))
            start, width, m, complete = start + k, width - k, m - k, False
    if not complete:
        nodes.append((start, start + width))
    return [_range_root(a, b, hash_range) for a, b in reversed(nodes)]


# --- proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise AuditError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that *leaf* (a leaf hash) is leaf *index* of the tree of *size* with *root*.

    Raises AuditError if the proof does not rebuild the root.
    """
    if not 0 <= index < size:
        raise AuditError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf)
    _check_hash("root", root)
    fn, sn, computed = index, size - 1, leaf
    for position, sibling in enumerate(proof):
        _check_hash(f"proof[{position}]", sibling)
        if sn == 0:
            raise AuditError(f"inclusion proof is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            computed = node_hash(computed, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise AuditError(f"inclusion proof is too short ({len(proof)} hashes)")
    if computed != root:
        raise AuditError(f"inclusion proof for leaf {index} does not rebuild the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of *new_size* extends the one of *old_size* without rewriting it.

    Equal sizes need equal roots and an empty proof. A proof from the empty tree proves
    nothing and is refused (as in the transparency-dev vectors): a verifier that has no
    earlier checkpoint trusts the first one on its signature alone. Raises AuditError if
    the proof does not rebuild both roots.
    """
    if not 0 <= old_size <= new_size:
        raise AuditError(f"tree shrank from size {old_size} to size {new_size}")
    if old_size == 0:
        raise AuditError("nothing to prove from the empty tree: trust its successor's signature")
    if old_size == new_size:
        if proof:
            raise AuditError("equal sizes need an empty consistency proof")
        if old_root != new_root:
            raise AuditError(f"two different roots for the same size {old_size}")
        return
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    if not proof:
        raise AuditError("consistency proof is empty")
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a perfect old tree is its own first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            raise AuditError(f"consistency proof is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            first = node_hash(node, first)
            second = node_hash(node, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise AuditError(f"consistency proof is too short ({len(proof)} hashes)")
    if first != old_root:
        raise AuditError(f"consistency proof does not rebuild the root of size {old_size}")
    if second != new_root:
        raise AuditError(f"consistency proof does not rebuild the root of size {new_size}")


# --- subtrees (draft-ietf-plants-merkle-tree-certs §"Subtrees") ------------------------------


def _check_subtree(start: int, end: int) -> None:
    """A subtree [start, end) is non-empty and starts at a multiple of its width rounded
    up to a power of two, so it is one node of the tree or the left part of one."""
    if not 0 <= start < end:
        raise AuditError(f"subtree [{start}, {end}) is empty or reversed")
    width = 1 << (end - start - 1).bit_length()
    if start % width:
        raise AuditError(f"[{start}, {end}) is not a subtree: {start} is not a multiple of {width}")


def subtree_inclusion_proof(index: int, start: int, end: int, hash_range: HashRange) -> list[bytes]:
    """The audit path of leaf *index* inside the subtree [start, end)."""
    _check_subtree(start, end)
    if not start <= index < end:
        raise AuditError(f"leaf index {index} is outside the subtree [{start}, {end})")
    return inclusion_proof(
        index - start, end - start, lambda a, b: hash_range(a + start, b + start)
    )


def verify_subtree_inclusion(
    index: int, start: int, end: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that *leaf* is leaf *index* of the subtree [start, end) whose hash is *root*."""
    _check_subtree(start, end)
    if not start <= index < end:
        raise AuditError(f"leaf index {index} is outside the subtree [{start}, {end})")
    verify_inclusion(index - start, end - start, leaf, proof, root)


def subtree_consistency_proof(
    start: int, end: int, size: int, hash_range: HashRange
) -> list[bytes]:
    """The proof that the subtree [start, end) is part of the tree of *size* leaves.

    With start 0 it is the RFC 9162 consistency proof from size *end*.
    """
    if start == end and 0 <= start <= size:
        return []
    _check_subtree(start, end)
    if end > size:
        raise AuditError(f"subtree [{start}, {end}) is beyond a tree of size {size}")
    nodes: list[tuple[int, int]] = []

    def descend(first: int, last: int, low: int, high: int, known: bool) -> None:
        if (first, last) == (low, high):
            if not known:
                nodes.append((low, high))
            return
        middle = low + _split(high - low)
        if last <= middle:
            descend(first, last, low, middle, known)
            nodes.append((middle, high))
        elif first >= middle:
            descend(first, last, middle, high, known)
            nodes.append((low, middle))
        else:  # the subtree starts this node and runs into its right half
            descend(middle, last, middle, high, False)
            nodes.append((low, middle))

    descend(start, end, 0, size, True)
    return [_range_root(a, b, hash_range) for a, b in nodes]


def verify_subtree_consistency(
    start: int,
    end: int,
    size: int,
    subtree_root: bytes,
    root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the subtree [start, end) with hash *subtree_root* is part of the tree of
    *size* leaves with hash *root*. An empty subtree needs the empty root and no proof.

    Raises AuditError if the proof does not rebuild both hashes.
    """
    if start == end and 0 <= start <= size:
        if proof:
            raise AuditError("an empty subtree needs an empty proof")
        if subtree_root != EMPTY_ROOT:
            raise AuditError("the root of an empty subtree is wrong")
        return
    _check_subtree(start, end)
    if end > size:
        raise AuditError(f"subtree [{start}, {end}) is beyond a tree of size {size}")
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)
    remaining = len(proof)

    def take() -> bytes:
        nonlocal remaining
        if remaining == 0:
            raise AuditError(f"subtree consistency proof is too short ({len(proof)} hashes)")
        remaining -= 1
        return proof[remaining]

    def rebuild(first: int, last: int, low: int, high: int, known: bool) -> tuple[bytes, bytes]:
        """(hash of the subtree's part in this node, hash of this node) from the proof."""
        if (first, last) == (low, high):
            value = subtree_root if known else take()
            return value, value
        middle = low + _split(high - low)
        if last <= middle:
            sibling = take()
            inner, node = rebuild(first, last, low, middle, known)
            return inner, node_hash(node, sibling)
        if first >= middle:
            sibling = take()
            inner, node = rebuild(first, last, middle, high, known)
            return inner, node_hash(sibling, node)
        sibling = take()
        inner, node = rebuild(middle, last, middle, high, False)
        return node_hash(sibling, inner), node_hash(sibling, node)

    rebuilt_subtree, rebuilt_root = rebuild(start, end, 0, size, True)
    if remaining:
        raise AuditError(f"subtree consistency proof is too long ({len(proof)} hashes)")
    if rebuilt_subtree != subtree_root:
        raise AuditError(f"consistency proof does not rebuild the subtree [{start}, {end})")
    if rebuilt_root != root:
        raise AuditError(f"consistency proof does not rebuild the root of size {size}")


# --- signed notes, checkpoints and cosignatures --------------------------------------------

_ED25519: Final = 0x01
_COSIGNATURE_V1: Final = 0x04
_SIGNATURE_TYPES: Final = frozenset({_ED25519, _COSIGNATURE_V1})
_MAX_SIGNATURES: Final = 64
_MAX_SIZE: Final = 2**64 - 1
_MAX_TIMESTAMP: Final = 2**63 - 1
_DASH: Final = "— "  # U+2014 EM DASH, U+0020 SPACE
_KEY_NAME: Final = re.compile(r"[^\s+]+")
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's origin line, its size and RFC 6962 root, optional extensions."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise AuditError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= _MAX_SIZE:
            raise AuditError(f"checkpoint size out of range: {self.size}")
        _check_hash("checkpoint root", self.root)
        for line in self.extensions:
            if not line or "\n" in line:
                raise AuditError("checkpoint extension lines must be single non-empty lines")
        _check_note_characters(self.origin + "".join(self.extensions), "checkpoint")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a signed note: key name, 4-byte key ID, signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A parsed checkpoint note: the checkpoint, its exact text and its signature lines."""

    checkpoint: Checkpoint
    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key as a signed-note verifier: name, signature type and raw key bytes.

    Type 0x01 verifies checkpoint signatures, type 0x04 cosignatures (tlog-cosignature v1).
    """

    name: str
    public_key: bytes
    signature_type: int = _ED25519

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if self.signature_type not in _SIGNATURE_TYPES:
            raise AuditError(f"unsupported signature type {self.signature_type:#04x}")
        if len(self.public_key) != 32:
            raise AuditError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")

    @property
    def key_id(self) -> bytes:
        """SHA-256(name || 0x0A || type || public key)[:4], per C2SP signed-note."""
        material = self.name.encode() + b"\n" + bytes([self.signature_type]) + self.public_key
        return hashlib.sha256(material).digest()[:4]


def _check_key_name(name: str) -> None:
    if _KEY_NAME.fullmatch(name) is None:
        raise AuditError(f"key name must be non-empty, without spaces or '+': {name[:80]!r}")
    _check_note_characters(name, "key name")


def _check_note_characters(text: str, what: str) -> None:
    for position, char in enumerate(text):
        if (ord(char) < 0x20 and char != "\n") or 0xD800 <= ord(char) <= 0xDFFF:
            raise DecodeError(f"{what}: control or surrogate character at offset {position}")


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{what}: not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise DecodeError(f"{what}: not canonical base64")
    return raw


def format_verifier_key(key: VerifierKey) -> str:
    """The ``<name>+<hex key ID>+<base64(type || key)>`` text form (a "vkey")."""
    material = base64.b64encode(bytes([key.signature_type]) + key.public_key).decode("ascii")
    return f"{key.name}+{key.key_id.hex()}+{material}"


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse a vkey; raises DecodeError if malformed or its key ID does not match."""
    name, plus, rest = text.partition("+")
    key_id_hex, plus2, material = rest.partition("+")
    if not plus or not plus2 or re.fullmatch(r"[0-9a-f]{8}", key_id_hex) is None:
        raise DecodeError(f"verifier key: expected name+keyid+key: {text[:80]!r}")
    raw = _b64decode(material, "verifier key")
    if len(raw) != 33:
        raise DecodeError(f"verifier key: expected 33 key bytes, got {len(raw)}")
    try:
        key = VerifierKey(name=name, public_key=raw[1:], signature_type=raw[0])
    except AuditError as exc:
        raise DecodeError(f"verifier key: {exc}") from exc
    if key.key_id.hex() != key_id_hex:
        raise DecodeError(f"verifier key: key ID {key_id_hex} does not match the key")
    return key


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The note text of *checkpoint*: origin, size, base64 root, extensions; final newline."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        base64.b64encode(checkpoint.root).decode("ascii"),
        *checkpoint.extensions,
    ]
    return "\n".join(lines) + "\n"


def _parse_body(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise DecodeError("checkpoint: note text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise DecodeError(f"checkpoint: needs origin, size and root lines, got {len(lines)}")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise DecodeError("checkpoint: line 1 (origin) is empty")
    if _DECIMAL.fullmatch(size_text) is None or int(size_text) > _MAX_SIZE:
        raise DecodeError(f"checkpoint: line 2 is not a tree size: {size_text[:40]!r}")
    root = _b64decode(root_text, "checkpoint: line 3 (root hash)")
    if len(root) != HASH_SIZE:
        raise DecodeError(f"checkpoint: line 3: root hash must be 32 bytes, got {len(root)}")
    for number, line in enumerate(extensions, start=4):
        if not line:
            raise DecodeError(f"checkpoint: line {number} (extension) is empty")
    try:
        return Checkpoint(origin, int(size_text), root, tuple(extensions))
    except AuditError as exc:
        raise DecodeError(f"checkpoint: {exc}") from exc


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(_DASH):
        raise DecodeError(f"checkpoint: signature line {number} does not start with '— '")
    name, space, encoded = line[len(_DASH) :].partition(" ")
    if not space or _KEY_NAME.fullmatch(name) is None:
        raise DecodeError(f"checkpoint: signature line {number} has a bad key name")
    raw = _b64decode(encoded, f"checkpoint: signature line {number}")
    if len(raw) < 5:
        raise DecodeError(f"checkpoint: signature line {number} is too short")
    return NoteSignature(name=name, key_id=raw[:4], signature=raw[4:])


def parse_checkpoint(note: str) -> SignedCheckpoint:
    """Parse a checkpoint note (text, blank line, signature lines); checks no signature.

    Raises DecodeError naming the line at fault.
    """
    _check_note_characters(note, "checkpoint")
    separator = note.rfind("\n\n")
    if separator < 0 or not note.endswith("\n"):
        raise DecodeError("checkpoint: no blank line before the signatures")
    text, block = note[: separator + 1], note[separator + 2 : -1]
    lines = block.split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise DecodeError(f"checkpoint: more than {_MAX_SIGNATURES} signature lines")
    signatures = tuple(
        _parse_signature_line(line, number) for number, line in enumerate(lines, start=1)
    )
    return SignedCheckpoint(_parse_body(text), text, signatures)


def _signature_line(name: str, key_id: bytes, signature: bytes) -> str:
    return f"{_DASH}{name} {base64.b64encode(key_id + signature).decode('ascii')}\n"


def sign_checkpoint(checkpoint: Checkpoint, *, name: str, private_key: bytes) -> str:
    """The checkpoint as a signed note, signed by the log's Ed25519 key under *name*."""
    key = VerifierKey(name, _crypto.public_key_of(private_key), _ED25519)
    text = format_checkpoint(checkpoint)
    signature = _crypto.sign(private_key, text.encode("utf-8"))
    return text + "\n" + _signature_line(name, key.key_id, signature)


def _matching(signed: SignedCheckpoint, key: VerifierKey) -> list[NoteSignature]:
    return [s for s in signed.signatures if s.name == key.name and s.key_id == key.key_id]


def verify_checkpoint(note: str, key: VerifierKey, *, origin: str | None = None) -> Checkpoint:
    """Check the log's signature on a checkpoint note and return the checkpoint.

    Lines from other keys (cosignatures, unknown keys) are ignored. Raises DecodeError
    if the note is malformed, AuditError if *key* did not sign it or the origin differs,
    SignatureError if its signature does not verify.
    """
    if key.signature_type != _ED25519:
        raise AuditError("a checkpoint is verified with a type 0x01 (Ed25519) key")
    signed = parse_checkpoint(note)
    if origin is not None and signed.checkpoint.origin != origin:
        raise AuditError(
            f"checkpoint origin {signed.checkpoint.origin[:80]!r} is not {origin[:80]!r}"
        )
    found = _matching(signed, key)
    if not found:
        raise AuditError(f"checkpoint carries no signature by key {key.name!r}")
    message = signed.text.encode("utf-8")
    for line in found:
        if len(line.signature) != 64:
            raise SignatureError()
        _crypto.verify_signature(key.public_key, line.signature, message)
    return signed.checkpoint


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign_checkpoint(note: str, *, name: str, private_key: bytes, at: datetime) -> str:
    """Add a tlog-cosignature v1 line by the peer *name* at time *at* to a checkpoint note.

    The caller has already verified the log's signature and the consistency of this
    checkpoint with the last one it cosigned (that is what a cosignature asserts).
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime: trilat times are UTC-aware")
    signed = parse_checkpoint(note)
    key = VerifierKey(name, _crypto.public_key_of(private_key), _COSIGNATURE_V1)
    timestamp = int(at.timestamp())
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError(f"cosignature time out of range: {at.isoformat()}")
    signature = _crypto.sign(private_key, _cosigned_message(signed.text, timestamp))
    payload = timestamp.to_bytes(8, "big") + signature
    return note + _signature_line(name, key.key_id, payload)


def cosigner_key(name: str, public_key: bytes) -> VerifierKey:
    """The verifier of the cosignatures *name* makes with *public_key* (type 0x04)."""
    return VerifierKey(name, public_key, _COSIGNATURE_V1)


def merge_signatures(note: str, *others: str) -> str:
    """*note* with every signature line of *others* that it does not carry yet, in order.

    All must be notes over the same checkpoint text (DecodeError otherwise); no signature
    is checked here: verify each before merging.
    """
    signed = parse_checkpoint(note)
    have = set(signed.signatures)
    lines = [_signature_line(s.name, s.key_id, s.signature) for s in signed.signatures]
    for other in others:
        parsed = parse_checkpoint(other)
        if parsed.text != signed.text:
            raise DecodeError("checkpoint: signatures of another checkpoint cannot be merged")
        for signature in parsed.signatures:
            if signature not in have:
                have.add(signature)
                lines.append(_signature_line(signature.name, signature.key_id, signature.signature))
    if len(lines) > _MAX_SIGNATURES:
        raise DecodeError(f"checkpoint: more than {_MAX_SIGNATURES} signature lines")
    return signed.text + "\n" + "".join(lines)


def verify_cosignature(note: str, key: VerifierKey) -> datetime:
    """Check the cosignature of *key* (type 0x04) on a checkpoint note; return its time.

    The time is the cosigner's claim (the latest, if it cosigned more than once); the
    caller compares it with its own clock and may refuse one from the future.

    Raises DecodeError if the note is malformed, AuditError if *key* has not cosigned it,
    SignatureError if the cosignature does not verify.
    """
    if key.signature_type != _COSIGNATURE_V1:
        raise AuditError("a cosignature is verified with a type 0x04 (cosignature/v1) key")
    signed = parse_checkpoint(note)
    found = _matching(signed, key)
    if not found:
        raise AuditError(f"checkpoint carries no cosignature by key {key.name!r}")
    times: list[datetime] = []
    for line in found:
        if len(line.signature) != 8 + 64:
            raise SignatureError()
        timestamp = int.from_bytes(line.signature[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise SignatureError()
        message = _cosigned_message(signed.text, timestamp)
        _crypto.verify_signature(key.public_key, line.signature[8:], message)
        times.append(datetime.fromtimestamp(timestamp, UTC))
    return max(times)


# --- audit entries (the leaves) ------------------------------------------------------------

EVENTS: Final[frozenset[str]] = frozenset(
    {
        "accept",
        "release",
        "refuse",
        "view",
        "consent",
        "recall",
        "user",
        "peer",
        "checkpoint",
        "cosign",
    }
)
"""What a leaf records: an item accepted, released, refused, viewed by a liaison officer,
a consent, a recall, a user or peer change, a checkpoint signed or cosigned."""

_FIXED: Final = ("event", "at", "actor", "item", "peer", "decision")
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")

Detail = str | int | bool | None | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit leaf: what happened, when, by whom, to which item, with which peer.

    *decision* is a one-line summary (``"allow: …"`` / ``"deny: …"``, first reason first);
    *detail* carries further ids, nations, digests and rule names, never bodies or keys.
    """

    event: str
    at: datetime
    actor: str
    item: str | None = None
    peer: str | None = None
    decision: str | None = None
    detail: Mapping[str, Detail] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise AuditError(f"unknown audit event {self.event[:40]!r}")
        if self.at.tzinfo is None:
            raise AuditError("audit entry time is naive; trilat times are UTC-aware")
        if not self.actor:
            raise AuditError("audit entry needs an actor")
        clash = sorted(set(self.detail) & set(_FIXED))
        if clash:
            raise AuditError(f"audit detail may not redefine {clash[0]!r}")
        detail: dict[str, Detail] = {}
        for key, value in self.detail.items():
            if isinstance(value, list | tuple):
                if not all(isinstance(element, str) for element in value):
                    raise AuditError(f"audit detail {key!r}: lists hold strings only")
                value = tuple(value)
            elif value is not None and not isinstance(value, str | int | bool):
                raise AuditError(f"audit detail {key!r}: unsupported {type(value).__name__}")
            elif isinstance(value, int) and not -(2**53) <= value <= 2**53:
                raise AuditError(f"audit detail {key!r}: integer beyond ±2**53")
            detail[key] = value
        object.__setattr__(self, "at", _millisecond(self.at))
        object.__setattr__(self, "detail", MappingProxyType(detail))

    def __hash__(self) -> int:
        return hash(encode_entry(self))


def _millisecond(at: datetime) -> datetime:
    utc = at.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def encode_entry(entry: AuditEntry) -> bytes:
    """The leaf data: RFC 8785 canonical JSON of the entry (absent members omitted)."""
    document: dict[str, Any] = {"event": entry.event, "at": format_time(entry.at)}
    document["actor"] = entry.actor
    for member in ("item", "peer", "decision"):
        value = getattr(entry, member)
        if value is not None:
            document[member] = value
    for key, value in entry.detail.items():
        document[key] = list(value) if isinstance(value, tuple) else value
    return canonical_json(document)


def decode_entry(data: bytes) -> AuditEntry:
    """Parse leaf data written by :func:`encode_entry`; raises DecodeError if it differs.

    The result re-encodes to exactly *data*, so a leaf that decodes is in canonical form.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeError) as exc:
        raise DecodeError("audit entry: not JSON") from exc
    if not isinstance(document, dict):
        raise DecodeError("audit entry: not a JSON object")
    for member in ("event", "at", "actor"):
        if not isinstance(document.get(member), str):
            raise DecodeError(f"audit entry member {member!r}: missing or not a string")
    for member in ("item", "peer", "decision"):
        if member in document and not isinstance(document[member], str):
            raise DecodeError(f"audit entry member {member!r}: not a string")
    if _TIME.fullmatch(document["at"]) is None:
        raise DecodeError(f"audit entry member 'at': not RFC 3339 UTC: {document['at'][:40]!r}")
    try:
        at = datetime.strptime(document["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        entry = AuditEntry(
            event=document["event"],
            at=at,
            actor=document["actor"],
            item=document.get("item"),
            peer=document.get("peer"),
            decision=document.get("decision"),
            detail={k: v for k, v in document.items() if k not in _FIXED},
        )
    except (AuditError, ValueError) as exc:
        raise DecodeError(f"audit entry: {exc}") from exc
    if encode_entry(entry) != data:
        raise DecodeError("audit entry: not in canonical form")
    return entry
