"""Envelopes and the audit log: what replication pays per item (SPEC §5, §10).

1. RFC 8785 canonical JSON of an envelope document, trilat against the C ``json.dumps``
   with sorted keys (which is *not* RFC 8785: no UTF-16 key order, no ECMAScript numbers);
   the ratio is the price of a signature every implementation can recompute.
2. Seal, verify, and decode-then-verify of a track envelope, against the floor: a raw
   Ed25519 sign or verify of the same bytes with ``cryptography``. ``verify`` is timed
   cold (the envelope's cached signing bytes dropped each time, as for a newly received
   envelope). ``seal + stored document`` is what originating an item pays before the
   database: sealing, then the stored text spliced from the cached signing bytes, against
   sealing and then encoding the wire document afresh (what the store used to do).
3. Audit log: compact-range appends per second, and inclusion proofs generated and
   verified per second in a 1,000,000-leaf log whose perfect subtrees come from a cache.

Run: ``.venv/bin/python bench/bench_envelopes.py [--quick]``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from trilat.core import _crypto
from trilat.core.audit import (
    CompactRange,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_inclusion,
)
from trilat.core.canonical import canonical_json
from trilat.core.items import (
    Envelope,
    Item,
    Originator,
    document_bytes,
    envelope_document,
    envelope_from_document,
    seal,
    signing_bytes,
    verify,
)
from trilat.core.labels import parse_label

QUICK = "--quick" in sys.argv
ROUNDS = 2_000 if QUICK else 10_000


def best_rate(count: int, run: Callable[[], object], repeats: int = 3) -> float:
    """Operations per second, best of *repeats* runs of *count* calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(count):
            run()
        best = min(best, time.perf_counter() - start)
    return count / best


def line(name: str, ours: float, baseline_name: str, baseline: float) -> None:
    print(
        f"{name:<28} trilat {ours:>10,.0f}/s   {baseline_name} {baseline:>10,.0f}/s   "
        f"ratio {ours / baseline:.2f}x"
    )


def main() -> None:
    key = _crypto.generate_private_key()
    public = _crypto.public_key_of(key)
    item = Item(
        kind="track",
        label=parse_label("SECRET//REL TO USA, JPN, KOR"),
        topics=("air.track",),
        body={
            "uid": "ICAO-71BE24",
            "type": "a-h-A-M-F",
            "point": {"lat": 37.241, "lon": 131.864, "alt_m": 7600.0},
            "time": "2019-07-23T00:33:00.000Z",
            "stale": "2019-07-23T00:38:00.000Z",
            "callsign": "A-50",
            "course": 231.5,
            "speed": 212.0,
        },
    )
    originator = Originator("usa-1", "USA")
    at = datetime(2019, 7, 23, 0, 33, tzinfo=UTC)
    envelope = seal(item, originator=originator, private_key=key, at=at)
    document = envelope_document(envelope)
    text = json.dumps(document)
    message = signing_bytes(envelope)
    raw_key = Ed25519PublicKey.from_public_bytes(public)
    raw_private = Ed25519PrivateKey.from_private_bytes(key)

    print(f"envelope of {len(text)} bytes, {ROUNDS:,} rounds, best of 3")
    line(
        "canonical JSON",
        best_rate(ROUNDS, lambda: canonical_json(document)),
        "json.dumps(sort_keys)",
        best_rate(
            ROUNDS,
            lambda: json.dumps(document, sort_keys=True, separators=(",", ":")).encode(),
        ),
    )
    floor = best_rate(ROUNDS, lambda: raw_key.verify(envelope.sig, message))
    line(
        "seal",
        best_rate(ROUNDS, lambda: seal(item, originator=originator, private_key=key, at=at)),
        "raw Ed25519 sign",
        best_rate(ROUNDS, lambda: raw_private.sign(message)),
    )

    def cold_verify(envelope: Envelope) -> None:
        object.__setattr__(envelope, "_signing", None)  # as if just received
        verify(envelope, public)

    line("verify", best_rate(ROUNDS, lambda: cold_verify(envelope)), "raw Ed25519 verify", floor)
    line(
        "seal + stored document",
        best_rate(
            ROUNDS,
            lambda: document_bytes(seal(item, originator=originator, private_key=key, at=at)),
        ),
        "seal + re-encode",
        best_rate(
            ROUNDS,
            lambda: canonical_json(
                envelope_document(seal(item, originator=originator, private_key=key, at=at))
            ),
        ),
    )
    line(
        "decode + verify",
        best_rate(ROUNDS, lambda: verify(envelope_from_document(json.loads(text)), public)),
        "raw Ed25519 verify",
        floor,
    )

    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(1_000_000 if not QUICK else 100_000)]
    compact = CompactRange()
    start = time.perf_counter()
    compact.extend(leaves)
    appends = len(leaves) / (time.perf_counter() - start)
    print(f"{'compact range append':<28} trilat {appends:>10,.0f}/s   ({len(leaves):,} leaves)")

    levels = [leaves]  # every perfect subtree root, level by level (what a store would cache)
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def hash_range(first: int, last: int) -> bytes:
        width = last - first
        return levels[width.bit_length() - 1][first // width]

    size, root = len(leaves), compact.root()
    indices = [(i * 7919) % size for i in range(ROUNDS)]
    position = iter(indices * 4)

    def prove_and_verify() -> None:
        index = next(position)
        verify_inclusion(index, size, leaves[index], inclusion_proof(index, size, hash_range), root)

    rate = best_rate(ROUNDS, prove_and_verify)
    print(f"{'inclusion prove + verify':<28} trilat {rate:>10,.0f}/s   (log of {size:,} leaves)")


if __name__ == "__main__":
    main()
