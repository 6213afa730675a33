"""GeoJSON (RFC 7946) export: released envelopes as a FeatureCollection.

Each envelope is one Feature whose ``id`` is the item id, whose geometry is what its body
locates (``null`` when it has no location, as RFC 7946 §3.2 allows) and whose properties
carry the label (``banner``, ``portion``, structured fields), provenance and the body. The
collection carries a ``banner`` foreign member: the roll-up of every feature's label, so a
reader sees the highest marking of the file first.

Takes envelopes the caller has already released to the reader; never decides
releasability. Pure: returns a dict (``json.dumps`` writes it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trilat.adapters._export import (
    envelope_fields,
    geometry_of,
    name_of,
    overall_label,
    thaw,
)
from trilat.core.items import Envelope
from trilat.core.labels import format_banner

__all__ = ["feature", "feature_collection"]


def feature(envelope: Envelope) -> dict[str, Any]:
    """One RFC 7946 Feature for *envelope*."""
    properties = envelope_fields(envelope)
    properties["banner"] = properties["label"]["banner"]
    properties["name"] = name_of(envelope)
    properties["body"] = thaw(envelope.body)
    return {
        "type": "Feature",
        "id": envelope.id,
        "geometry": geometry_of(envelope),
        "properties": properties,
    }


def feature_collection(envelopes: Iterable[Envelope]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection of *envelopes*, with the roll-up ``banner`` on top."""
    released = list(envelopes)
    overall = overall_label(released)
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    collection["banner"] = None if overall is None else format_banner(overall)
    collection["features"] = [feature(envelope) for envelope in released]
    return collection
