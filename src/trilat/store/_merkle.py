"""Compact Merkle range over the audit leaves (RFC 6962 hashing). Internal, unstable.

The store keeps, for a log of ``size`` leaves, one hash per set bit of ``size`` (the roots
of its perfect subtrees, largest first), so that appending and taking the root cost
O(log n) and the state survives a restart in one row.
"""

from __future__ import annotations

import hashlib


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class CompactRange:
    """The perfect-subtree roots of a log of ``size`` leaves."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None) -> None:
        hashes = list(hashes or [])
        if len(hashes) != size.bit_count():
            raise ValueError(f"compact range of size {size} needs {size.bit_count()} hashes")
        self.size = size
        self.hashes = hashes

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        self.hashes.append(leaf)
        size = self.size
        while size & 1:  # merge equal-height subtrees: one per trailing set bit of the old size
            right = self.hashes.pop()
            left = self.hashes.pop()
            self.hashes.append(node_hash(left, right))
            size >>= 1
        self.size += 1

    def root(self) -> bytes:
        """The RFC 6962 tree head of the leaves so far."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.hashes))
