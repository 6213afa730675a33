"""KML 2.2 export: released envelopes as Placemarks in one Document.

Each envelope is a Placemark (``id`` ``item-<item id>``) with its name, a description that
opens with the label banner, a TimeStamp of its creation, the label and provenance in
``ExtendedData`` (``banner``, ``portion``, ``classification``, ``rel_to``, ``tlp``,
``owner``, ``kind``, ``originator``, ``created``, ``topics``) and the geometry its body
locates. The Document's description and ExtendedData carry the roll-up banner of all of
them.

The XML is built with ``xml.etree`` (it escapes text and attributes); characters XML 1.0
cannot carry are replaced by U+FFFD. Reading KML back is not done here (and would go
through defusedxml). Takes envelopes the caller has already released; never decides
releasability. Pure: returns UTF-8 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

# Building XML only: nothing is parsed with xml.etree here (reading goes through defusedxml).
from xml.etree.ElementTree import Element, SubElement, tostring

from trilat.adapters._export import (
    envelope_fields,
    geometry_of,
    name_of,
    overall_label,
    text_of,
)
from trilat.core.items import Envelope
from trilat.core.labels import format_banner

__all__ = ["KML_MEDIA_TYPE", "KML_NAMESPACE", "kml_document"]

KML_NAMESPACE: Final = "http://www.opengis.net/kml/2.2"
KML_MEDIA_TYPE: Final = "application/vnd.google-earth.kml+xml"
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _child(parent: Element, tag: str, text: str | None = None, **attributes: str) -> Element:
    element = SubElement(parent, tag, attributes)
    if text is not None:
        element.text = _clean(text)
    return element


def _data(extended: Element, name: str, value: str) -> None:
    data = _child(extended, "Data", name=name)
    _child(data, "value", value)


def _coordinates(positions: list[Any]) -> str:
    return " ".join(",".join(_format(value) for value in position) for position in positions)


def _format(value: float) -> str:
    return repr(float(value))


def _linear_ring(parent: Element, ring: list[Any]) -> None:
    _child(_child(parent, "LinearRing"), "coordinates", _coordinates(ring))


def _geometry(parent: Element, geometry: Mapping[str, Any]) -> None:
    kind, coordinates = geometry["type"], geometry["coordinates"]
    if kind == "Point":
        point = _child(parent, "Point")
        if len(coordinates) == 3:
            _child(point, "altitudeMode", "absolute")
        _child(point, "coordinates", _coordinates([coordinates]))
    elif kind == "LineString":
        line = _child(parent, "LineString")
        _child(line, "tessellate", "1")
        _child(line, "coordinates", _coordinates(coordinates))
    elif kind == "Polygon":
        polygon = _child(parent, "Polygon")
        _linear_ring(_child(polygon, "outerBoundaryIs"), coordinates[0])
        for hole in coordinates[1:]:
            _linear_ring(_child(polygon, "innerBoundaryIs"), hole)
    else:  # MultiPoint, MultiLineString, MultiPolygon
        multi = _child(parent, "MultiGeometry")
        single = kind.removeprefix("Multi")
        for part in coordinates:
            _geometry(multi, {"type": single, "coordinates": part})


def _placemark(document: Element, envelope: Envelope) -> None:
    fields = envelope_fields(envelope)
    label = fields["label"]
    placemark = _child(document, "Placemark", id=f"item-{envelope.id}")
    _child(placemark, "name", name_of(envelope))
    text = text_of(envelope)
    _child(placemark, "description", label["banner"] + ("\n\n" + text if text else ""))
    _child(_child(placemark, "TimeStamp"), "when", fields["created"])
    extended = _child(placemark, "ExtendedData")
    for member in ("banner", "portion", "classification"):
        _data(extended, member, label[member])
    if label["rel_to"]:
        _data(extended, "rel_to", ", ".join(label["rel_to"]))
    if label["tlp"]:
        _data(extended, "tlp", label["tlp"])
    if label["owner"]:
        _data(extended, "owner", label["owner"])
    _data(extended, "id", envelope.id)
    _data(extended, "kind", envelope.kind)
    _data(extended, "originator", f"{envelope.originator.node} ({envelope.originator.nation})")
    _data(extended, "created", fields["created"])
    _data(extended, "topics", " ".join(envelope.topics))
    geometry = geometry_of(envelope)
    if geometry is not None:
        _geometry(placemark, geometry)


def kml_document(envelopes: Iterable[Envelope], *, name: str = "trilat export") -> bytes:
    """A KML 2.2 document of *envelopes* as UTF-8 bytes with an XML declaration."""
    released = list(envelopes)
    root = Element("kml", {"xmlns": KML_NAMESPACE})
    document = _child(root, "Document")
    _child(document, "name", name)
    overall = overall_label(released)
    if overall is not None:
        banner = format_banner(overall)
        _child(document, "description", banner)
        _data(_child(document, "ExtendedData"), "banner", banner)
    for envelope in released:
        _placemark(document, envelope)
    data: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return data
