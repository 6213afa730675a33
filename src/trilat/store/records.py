"""Envelopes as store rows: the one place that decides what a stored item looks like.

Used by the API when the node originates an item and by federation when it accepts one
from a peer, so both write the same document text, digest and index columns.
"""

from __future__ import annotations

import hashlib

from trilat.core.clock import format_time
from trilat.core.errors import DecodeError
from trilat.core.items import Envelope, document_bytes
from trilat.kinds import body_extent
from trilat.store.base import ItemRow


def document_text(envelope: Envelope) -> str:
    """The stored form of an envelope: RFC 8785 canonical JSON of its wire document.

    Spliced from the envelope's signing bytes (computed once, when it was sealed or
    verified), so storing an item does not encode it again.
    """
    return document_bytes(envelope).decode("utf-8")


def blob_references(envelope: Envelope) -> tuple[str, ...]:
    """SHA-256 hashes of document blobs the item cites (a ``document`` item's file)."""
    digest = envelope.body.get("sha256") if envelope.kind == "document" else None
    return (digest,) if isinstance(digest, str) else ()


def stix_id_of(envelope: Envelope) -> str | None:
    """The STIX object id an ``indicator`` item carries (its body is a STIX object)."""
    identifier = envelope.body.get("id") if envelope.kind == "indicator" else None
    return identifier if isinstance(identifier, str) else None


def item_row(envelope: Envelope, document: str | None = None) -> ItemRow:
    """The row of *envelope*: document text, its digest and the indexed columns."""
    document = document_text(envelope) if document is None else document
    try:
        extent = body_extent(envelope.kind, envelope.body)
    except DecodeError:
        extent = None  # a peer's body we cannot read geographically is stored unindexed
    return ItemRow(
        id=envelope.id,
        kind=envelope.kind,
        created=format_time(envelope.created),
        classification=int(envelope.label.classification),
        originator_nation=envelope.originator.nation,
        topics=tuple(envelope.topics),
        document=document,
        digest=hashlib.sha256(document.encode("utf-8")).hexdigest(),
        extent=extent,
        supersedes=envelope.supersedes,
        blobs=blob_references(envelope),
        stix_id=stix_id_of(envelope),
    )
