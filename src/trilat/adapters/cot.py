"""Cursor-on-Target 2.0 XML ⇄ event records, and the framing of CoT streams over TCP.

XML is read only through defusedxml's parser: no DTD, no entity declarations, no external
references. Every event is capped in size (``CotLimits.max_event_bytes``) and element depth
(``CotLimits.max_depth``). A TCP stream is a concatenation of ``<event>`` documents that may be
split across reads, packed several to a read and separated by XML declarations, whitespace or
garbage: ``CotStreamDecoder`` resynchronises on the next ``<event`` after anything it cannot
use, and counts what it refused by reason.

One parse per event. The decoder keeps the bytes it received (``CotEvent.xml``) and the offsets
it needs to relabel them, so a relay renders an event's outbound form once, by splicing, and
fans the same bytes out to every recipient; unknown detail is preserved byte for byte.

Outbound marking: the event's label is written in the ``access`` attribute of ``<event>`` and in
a ``<__trilat label="…"/>`` element inside ``<detail>``; any such marks that came in are replaced.
An incoming ``access`` attribute is never read as a label (TAK clients write free text there,
such as ``Undefined``); only a ``__trilat`` mark can make an event's label stricter.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import isfinite
from typing import Final
from xml.etree.ElementTree import Element
from xml.sax.saxutils import quoteattr

from defusedxml.ElementTree import DefusedXMLParser
from defusedxml.ElementTree import fromstring as _defused_fromstring

from trilat.core.errors import DecodeError
from trilat.core.labels import Label, format_banner

__all__ = [
    "DELETE_TYPE",
    "PING_TYPE",
    "PONG_TYPE",
    "CotEvent",
    "CotLimits",
    "CotStreamDecoder",
    "LabelMarks",
    "decode_event",
    "flow_tag_attribute",
    "format_cot_time",
    "format_event",
    "label_marks",
    "parse_cot_time",
    "render_event",
    "topic_for_type",
]

PING_TYPE: Final = "t-x-c-t"
PONG_TYPE: Final = "t-x-c-t-r"
DELETE_TYPE: Final = "t-x-d-d"

_OPEN: Final = b"<event"
_CLOSE_TAG: Final = b"</event"  # the end tag may have whitespace before its ">"
_XML_SPACE: Final = frozenset(b" \t\r\n")
_AFTER_OPEN: Final = frozenset(b" \t\r\n>/")
_ROOT: Final = b"<cot-stream>"
# a parser is replaced after this many bytes, so expat's byte index stays small
_PARSER_BYTES: Final = 64 * 1024 * 1024
_NO_VALUE: Final = 9999999.0  # CoT's "unknown" for hae, ce and le
_START_TAG = re.compile(rb"<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*/?>")
_FLOW_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_FLOW_OPEN: Final = len("<_flow-tags_")
_DECLARATION = re.compile(rb"<\?xml[^<>]*\?>")
_ATTRIBUTE = re.compile(rb"\s+([^\s=/>]+)\s*=\s*(\"[^\"]*\"|'[^']*')")


@dataclass(frozen=True, slots=True)
class CotLimits:
    """Bounds on one event; anything larger or deeper is refused and counted."""

    max_event_bytes: int = 256 * 1024
    max_depth: int = 32


@dataclass(slots=True, eq=False)
class CotEvent:
    """One CoT event as received: routing fields parsed, everything else kept as bytes.

    ``label`` is the effective security label, set by whoever decides it (the relay sets the
    connection's label, or the stricter one the event carries); ``trilat_label`` is the text of
    the event's own ``<__trilat label="…"/>`` mark, if any. Times are UTC-aware.
    """

    uid: str
    type: str
    how: str
    time: datetime
    start: datetime
    stale: datetime
    lat: float
    lon: float
    hae: float
    ce: float
    le: float
    xml: bytes
    access: str | None = None
    trilat_label: str | None = None
    callsign: str | None = None
    dest_callsigns: tuple[str, ...] = ()
    dest_uids: tuple[str, ...] = ()
    link_uids: tuple[str, ...] = ()
    label: Label | None = None
    _detail_close: int = -1  # offset of "</detail>" in xml, or -1
    _detail_span: tuple[int, int] | None = None  # an empty "<detail/>" element
    _strip: tuple[tuple[int, int], ...] = ()  # incoming __trilat marks, replaced on output
    flow_tags: tuple[str, ...] = ()  # attribute names of <_flow-tags_>: relays passed through
    _flow_at: int = -1  # where a new attribute goes in the <_flow-tags_> start tag, or -1
    _detail_tree: Element | None = field(default=None, repr=False)

    @property
    def directed(self) -> bool:
        """True when ``<marti><dest …/></marti>`` names the only recipients."""
        return bool(self.dest_callsigns or self.dest_uids)

    def detail(self) -> Element:
        """The ``<detail>`` element as a tree (parsed on first use; empty if absent)."""
        if self._detail_tree is None:
            root = _defused_fromstring(self.xml, forbid_dtd=True)
            found = root.find("detail")
            self._detail_tree = found if found is not None else Element("detail")
        return self._detail_tree


@dataclass(frozen=True, slots=True)
class LabelMarks:
    """A label rendered once for CoT: the ``access`` attribute and the ``__trilat`` element."""

    banner: str
    access_attribute: bytes
    trilat_element: bytes


def label_marks(label: Label) -> LabelMarks:
    """Render *label* into the two marks every outbound event carries."""
    banner = format_banner(label)
    quoted = quoteattr(banner).encode()
    return LabelMarks(banner, b" access=" + quoted, b"<__trilat label=" + quoted + b"/>")


def render_event(event: CotEvent, marks: LabelMarks, flow_tag: bytes = b"") -> bytes:
    """The event's bytes with *marks* written in; everything else is kept as received.

    *flow_tag* (`` name="time"``, see :func:`flow_tag_attribute`) is added to the event's
    ``<_flow-tags_>`` element, which is created if absent: the relays an event passed through.
    """
    xml = event.xml
    head = b"<event" + marks.access_attribute
    if event.access is None:
        rest = 6
    else:  # rare: drop the incoming access attribute from the start tag
        tag = _START_TAG.match(xml)
        if tag is None:  # pragma: no cover - the parser accepted this start tag
            raise DecodeError("event start tag could not be re-read")
        kept = [
            m.group(0) for m in _ATTRIBUTE.finditer(xml, 6, tag.end()) if m.group(1) != b"access"
        ]
        head += b"".join(kept) + b">"
        rest = tag.end()
    added = marks.trilat_element
    if flow_tag and event._flow_at < 0:
        added += b"<_flow-tags_" + flow_tag + b"/>"
    if not event._strip and event._detail_span is None and event._flow_at < 0:
        if event._detail_close >= 0:
            at = event._detail_close
            return b"".join((head, xml[rest:at], added, xml[at:]))
        at = xml.rindex(_CLOSE_TAG)
        return b"".join((head, xml[rest:at], b"<detail>", added, b"</detail>", xml[at:]))
    # general case: cut incoming marks, then place ours
    cuts: list[tuple[int, int, bytes]] = [(a, b, b"") for a, b in event._strip]
    if flow_tag and event._flow_at >= 0:
        cuts.append((event._flow_at, event._flow_at, flow_tag))
    if event._detail_span is not None:
        a, b = event._detail_span
        cuts.append((a, b, b"<detail>" + added + b"</detail>"))
    elif event._detail_close >= 0:
        cuts.append((event._detail_close, event._detail_close, added))
    else:
        at = xml.rindex(_CLOSE_TAG)
        cuts.append((at, at, b"<detail>" + added + b"</detail>"))
    cuts.sort()
    parts = [head]
    position = rest
    for a, b, insert in cuts:
        parts.append(xml[position:a])
        parts.append(insert)
        position = b
    parts.append(xml[position:])
    return b"".join(parts)


def flow_tag_attribute(name: str, at: datetime) -> bytes:
    """A ``_flow-tags_`` attribute recording that relay *name* handled an event at *at*.

    *name* must be an XML name made of letters, digits, ``-`` and ``_``.
    """
    if not _FLOW_NAME.fullmatch(name):
        raise ValueError(f"flow tag name {name!r} is not a plain XML name")
    return f' {name}="{format_cot_time(at)}"'.encode()


def parse_cot_time(text: str) -> datetime:
    """Parse a CoT time (``2026-11-28T12:00:00.000Z``); a time without an offset is refused."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise DecodeError(f"bad CoT time {text!r}") from None
    if at.tzinfo is None:
        raise DecodeError(f"CoT time without a UTC offset: {text!r}")
    return at.astimezone(UTC)


def format_cot_time(at: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix (the form TAK clients write)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: CoT times are UTC")
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def format_event(
    *,
    uid: str,
    type: str,
    time: datetime,
    stale: datetime,
    start: datetime | None = None,
    how: str = "m-g",
    lat: float = 0.0,
    lon: float = 0.0,
    hae: float = _NO_VALUE,
    ce: float = _NO_VALUE,
    le: float = _NO_VALUE,
    detail: bytes = b"",
    label: Label | None = None,
) -> bytes:
    """Write a CoT 2.0 event; *detail* is inner XML placed in ``<detail>`` as given."""
    attrs = (
        f'<event version="2.0" uid={quoteattr(uid)} type={quoteattr(type)} '
        f'time="{format_cot_time(time)}" start="{format_cot_time(start or time)}" '
        f'stale="{format_cot_time(stale)}" how={quoteattr(how)}'
    ).encode()
    marks = label_marks(label) if label is not None else None
    if marks is not None:
        attrs += marks.access_attribute
    point = (f'<point lat="{lat!r}" lon="{lon!r}" hae="{hae!r}" ce="{ce!r}" le="{le!r}"/>').encode()
    inner = detail + (marks.trilat_element if marks is not None else b"")
    return attrs + b">" + point + b"<detail>" + inner + b"</detail></event>"


def topic_for_type(cot_type: str) -> str:
    """The trilat topic of a CoT atom: air and maritime tracks by battle dimension."""
    parts = cot_type.split("-")
    if len(parts) >= 3 and parts[0] == "a":
        dimension = parts[2]
        if dimension == "A":
            return "air.track"
        if dimension in ("S", "U"):
            return "maritime.track"
    return "track"


class _Refused(Exception):
    """An event was refused; ``reason`` is the counter it lands in."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_FORBIDDEN: Final = frozenset({"DTDForbidden", "EntitiesForbidden", "ExternalReferenceForbidden"})


def _end_tag(buf: bytes, e: int, n: int) -> tuple[int, int]:
    """Where the event's end tag starts and ends in *buf*, searching on from *e* (a
    ``</event`` or -1): ``(start, end)``, or ``(-1, resume)`` when more bytes are needed,
    *resume* being where to search again (-1: the last few bytes).

    ``</event`` followed by ``>`` or by whitespace ends the event; anything else after it
    (``</events>``) is the end tag of another element. A malformed end tag (``</event x>``)
    still ends the frame, and the parser refuses it.
    """
    while e >= 0:
        j = e + 7
        if j >= n:
            return -1, e
        c = buf[j]
        if c == 62:
            return e, j + 1
        if c in _XML_SPACE:
            k = buf.find(b">", j)
            return (e, k + 1) if k >= 0 else (-1, e)
        e = buf.find(_CLOSE_TAG, j)
    return -1, -1


class CotStreamDecoder:
    """Frames and decodes a CoT byte stream; refused input is counted, never raised.

    ``feed`` returns the events completed by the new bytes. ``rejected`` counts refusals by
    reason (``malformed``, ``forbidden``, ``too-deep``, ``oversize``, ``invalid``), and
    ``garbage_bytes`` counts bytes between events that were neither whitespace nor an XML
    declaration. ``last_error`` describes the latest refusal (for logs; never the event body).

    Each framed event is fed to one long-lived defusedxml parser inside a synthetic root
    element; its handlers record only what routing needs while expat still checks every byte.
    A parser that has failed is replaced, so one bad event never affects the next.
    """

    def __init__(self, limits: CotLimits | None = None) -> None:
        self.limits = limits or CotLimits()
        self._max_depth = self.limits.max_depth + 1  # the synthetic root is depth 1
        self._pending = b""
        self._scan_from = 0
        self._skipping = False  # inside an oversize event: drop bytes until the next <event
        self.rejected: Counter[str] = Counter()
        self.garbage_bytes = 0
        self.accepted = 0
        self.last_error: str | None = None
        self._time_cache: dict[str, datetime] = {}
        self._frame = b""
        self._new_parser()

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of an event."""
        return len(self._pending)

    # -- framing ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[CotEvent]:
        buf = self._pending + data if self._pending else data
        n = len(buf)
        limit = self.limits.max_event_bytes
        events: list[CotEvent] = []
        append = events.append
        decode = self._decode
        pos = 0
        while pos < n:
            s = buf.find(_OPEN, pos)
            if s < 0:
                keep = max(pos, n - (len(_OPEN) - 1))
                tag = buf.rfind(b"<", pos, keep)  # keep a tag split across reads whole
                if tag >= 0 and keep - tag <= 256 and buf.find(b">", tag, keep) < 0:
                    keep = tag
                self._between(buf, pos, keep)
                self._pending = buf[keep:]
                self._scan_from = 0
                return events
            if s + 6 >= n:  # cannot yet tell "<event " from "<events"
                self._between(buf, pos, s)
                self._pending = buf[s:]
                self._scan_from = 0
                return events
            if buf[s + 6] not in _AFTER_OPEN:
                self._between(buf, pos, s + 6)
                pos = s + 6
                continue
            if s > pos:
                self._between(buf, pos, s)
            if self._skipping:
                self._skipping = False
            scan_from = self._scan_from
            if scan_from:  # only the held event's bytes were searched before
                self._scan_from = 0
                e = buf.find(_CLOSE_TAG, max(s + 6, scan_from))
            else:
                e = buf.find(_CLOSE_TAG, s + 6)
            if e >= 0 and e + 7 < n and buf[e + 7] == 62:  # "</event>", the usual form
                end = e + 8
            else:
                e, end = _end_tag(buf, e, n)
            if e < 0:
                if n - s > limit:
                    self._refuse("oversize", f"event larger than {limit} bytes")
                    self._skipping = True
                    pos = s + 6
                    continue
                self._pending = buf[s:]
                self._scan_from = end - s if end >= 0 else max(0, n - s - (len(_CLOSE_TAG) - 1))
                return events
            if end - s > limit:
                self._refuse("oversize", f"event larger than {limit} bytes")
                pos = end
                continue
            frame = buf[s:end] if (s or end != n) else buf
            pos = end
            try:
                append(decode(frame))
            except _Refused as exc:
                self._refuse(exc.reason, str(exc))
        self._pending = b""
        self._scan_from = 0
        return events

    def _between(self, buf: bytes, a: int, b: int) -> None:
        """Account for bytes between events."""
        if b <= a:
            return
        if self._skipping:
            self.garbage_bytes += b - a
            return
        chunk = buf[a:b].strip()
        if not chunk:
            return
        if chunk.startswith(b"<?xml") and chunk.endswith(b"?>") and b"<" not in chunk[2:-2]:
            return
        self.garbage_bytes += len(_DECLARATION.sub(b"", chunk).strip())

    def _refuse(self, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        self.last_error = f"{reason}: {detail}"

    # -- parsing ---------------------------------------------------------------------------

    def _new_parser(self) -> None:
        defused = DefusedXMLParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
        parser = defused.parser
        # Only start and end handlers: text, comments and processing instructions are not
        # needed to route. defusedxml's DTD, entity and external-reference handlers stay.
        parser.ordered_attributes = 0
        parser.buffer_text = 0
        parser.CharacterDataHandler = None
        parser.CommentHandler = None
        parser.ProcessingInstructionHandler = None
        parser.DefaultHandlerExpand = None
        parser.StartNamespaceDeclHandler = None
        parser.EndNamespaceDeclHandler = None
        # _start tests depths 2 to 4 before the depth cap, so a cap below 3 checks first
        parser.StartElementHandler = self._start if self._max_depth >= 4 else self._start_capped
        parser.EndElementHandler = self._end
        self._defused = defused  # keeps defusedxml's handlers' owner alive
        self._parser = parser
        self._depth = 0
        self._in_detail = False
        self._in_marti = False
        self._completed = 0
        self._reset_event(None)
        parser.Parse(_ROOT, False)
        self._base = len(_ROOT)

    def _reset_event(self, attrs: dict[str, str] | None) -> None:
        self._event_attrs = attrs
        self._point_attrs: dict[str, str] | None = None
        self._callsign: str | None = None
        self._detail_start = -1
        self._detail_children = False
        self._detail_close = -1
        self._reset_rare()

    def _reset_rare(self) -> None:
        """Clear what only uncommon events carry (``_rare`` says whether any was set)."""
        self._rare = False
        self._trilat_label: str | None = None
        self._dest_callsigns: list[str] | None = None
        self._dest_uids: list[str] | None = None
        self._link_uids: list[str] | None = None
        self._detail_span: tuple[int, int] | None = None
        self._trilat_start = -1
        self._strip: list[tuple[int, int]] | None = None
        self._flow_tags: tuple[str, ...] = ()
        self._flow_start = -1

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        # The branches run in order of frequency: a typical event is one event element, a
        # point and a detail at depth 3, and a few detail children at depth 4.
        depth = self._depth = self._depth + 1
        if depth == 4:
            if not self._in_detail:
                return
            self._detail_children = True
            if name == "contact":
                self._callsign = attrs.get("callsign")
            elif name == "__trilat":
                self._rare = True
                self._trilat_label = attrs.get("label")
                self._trilat_start = self._parser.CurrentByteIndex
            elif name == "_flow-tags_":
                if self._flow_start < 0:
                    self._rare = True
                    self._flow_tags = tuple(attrs)
                    self._flow_start = self._parser.CurrentByteIndex - self._base
            elif name == "marti":
                self._rare = True
                self._in_marti = True
            elif name == "link":
                uid = attrs.get("uid")
                if uid:
                    self._rare = True
                    if self._link_uids is None:
                        self._link_uids = []
                    self._link_uids.append(uid)
        elif depth == 3:
            if name == "point":
                self._point_attrs = attrs
            elif name == "detail":
                self._in_detail = True
                self._detail_start = self._parser.CurrentByteIndex
        elif depth == 2:
            if name != "event":
                raise _Refused("malformed", f"element {name!r} is not an event")
            self._event_attrs = attrs
            self._point_attrs = None
            self._callsign = None
            self._detail_start = -1
            self._detail_children = False
            self._detail_close = -1
            if self._rare:
                self._reset_rare()
        elif depth > self._max_depth:
            raise _Refused("too-deep", f"element nesting deeper than {self._max_depth - 1}")
        elif depth == 5 and self._in_marti and name == "dest":
            callsign = attrs.get("callsign")
            if callsign:
                if self._dest_callsigns is None:
                    self._dest_callsigns = []
                self._dest_callsigns.append(callsign)
            uid = attrs.get("uid")
            if uid:
                if self._dest_uids is None:
                    self._dest_uids = []
                self._dest_uids.append(uid)

    def _start_capped(self, name: str, attrs: dict[str, str]) -> None:
        if self._depth >= self._max_depth:
            self._depth += 1
            raise _Refused("too-deep", f"element nesting deeper than {self._max_depth - 1}")
        self._start(name, attrs)

    def _end(self, name: str) -> None:
        depth = self._depth
        self._depth = depth - 1
        if depth == 4:
            if self._rare and self._in_detail:
                if name == "__trilat":
                    end = self._parser.CurrentByteIndex - self._base
                    start = self._trilat_start - self._base
                    if self._strip is None:
                        self._strip = []
                    if not self._empty_element(start, end):
                        end = self._frame.index(b">", end) + 1
                    self._strip.append((start, end))
                elif name == "marti":
                    self._in_marti = False
        elif depth == 3:
            if name == "detail":
                self._in_detail = False
                end = self._parser.CurrentByteIndex - self._base
                start = self._detail_start - self._base
                if not self._detail_children and self._empty_element(start, end):
                    self._rare = True
                    self._detail_span = (start, end)
                else:
                    self._detail_close = end
        elif depth == 2:
            self._completed += 1

    def _empty_element(self, start: int, end: int) -> bool:
        """Whether ``frame[start:end]`` is one empty-element tag (``<x …/>``).

        expat reports an end tag at its ``<`` and an empty-element tag just after its ``>``.
        """
        data = self._frame[start:end]
        return data.endswith(b"/>") and _START_TAG.fullmatch(data) is not None

    def _time(self, text: str | None, name: str) -> datetime:
        if text is None:
            raise _Refused("invalid", f"event has no {name}")
        cache = self._time_cache
        found = cache.get(text)
        if found is None:
            try:
                found = parse_cot_time(text)
            except DecodeError as exc:
                raise _Refused("invalid", f"{name}: {exc}") from None
            if len(cache) > 64:
                cache.clear()
            cache[text] = found
        return found

    def _decode(self, frame: bytes) -> CotEvent:
        # parse: expat checks every byte; the handlers collect the routing fields
        if self._base > _PARSER_BYTES:  # keep expat's byte index small on long streams
            self._new_parser()
        base = self._base
        self._frame = frame
        self._completed = 0
        try:
            self._parser.Parse(frame, False)
        except _Refused:
            self._new_parser()
            raise
        except Exception as exc:  # expat errors and defusedxml's forbidden constructs
            self._new_parser()
            name = type(exc).__name__
            if name in _FORBIDDEN:
                raise _Refused("forbidden", name) from None
            raise _Refused("malformed", str(exc)) from None
        self._base = base + len(frame)
        if self._completed != 1 or self._depth != 1:
            # a comment, CDATA section or quoted value swallowed the end tag
            self._new_parser()
            raise _Refused("malformed", "event document did not close")
        # decode: check and convert what the handlers collected
        attrs = self._event_attrs
        if attrs is None:  # pragma: no cover - a completed event sets its attributes
            raise _Refused("malformed", "no event element")
        get = attrs.get
        version = get("version")
        if version is None or not version.startswith("2."):
            raise _Refused("invalid", f"unsupported CoT version {version!r}")
        uid = get("uid")
        cot_type = get("type")
        if not uid or not cot_type:
            raise _Refused("invalid", "event without uid or type")
        point = self._point_attrs
        if point is None:
            raise _Refused("invalid", f"event {uid!r} has no point")
        try:
            lat = float(point["lat"])
            lon = float(point["lon"])
            text = point.get("hae")
            hae = _NO_VALUE if text is None else float(text)
            text = point.get("ce")
            ce = _NO_VALUE if text is None else float(text)
            text = point.get("le")
            le = _NO_VALUE if text is None else float(text)
        except (KeyError, ValueError):
            raise _Refused("invalid", f"event {uid!r} has a bad point") from None
        if not (
            -90.0 <= lat <= 90.0
            and -180.0 <= lon <= 180.0
            and isfinite(hae)
            and isfinite(ce)
            and isfinite(le)
        ):
            raise _Refused("invalid", f"event {uid!r} point out of range")
        cache = self._time_cache
        text = get("time")
        time = cache.get(text) if text is not None else None
        if time is None:
            time = self._time(text, "time")
        text = get("start")
        start = cache.get(text) if text is not None else None
        if start is None:
            start = self._time(text, "start")
        text = get("stale")
        stale = cache.get(text) if text is not None else None
        if stale is None:
            stale = self._time(text, "stale")
        # an event without rare marks has them at their reset values: (), None or -1
        event = CotEvent(
            uid,
            cot_type,
            get("how", ""),
            time,
            start,
            stale,
            lat,
            lon,
            hae,
            ce,
            le,
            frame,
            get("access"),
            self._trilat_label,
            self._callsign,
            tuple(self._dest_callsigns) if self._dest_callsigns else (),
            tuple(self._dest_uids) if self._dest_uids else (),
            tuple(self._link_uids) if self._link_uids else (),
            None,
            self._detail_close,
            self._detail_span,
            tuple(self._strip) if self._strip else (),
            self._flow_tags,
            self._flow_start + _FLOW_OPEN if self._flow_start >= 0 else -1,
        )
        self.accepted += 1
        return event


def decode_event(xml: bytes | str, limits: CotLimits | None = None) -> CotEvent:
    """Decode exactly one CoT event document (an XML declaration may precede it).

    Raises DecodeError naming the reason when the input is not one acceptable event.
    """
    data = xml.encode() if isinstance(xml, str) else xml
    decoder = CotStreamDecoder(limits)
    events = decoder.feed(data)
    if decoder.rejected:
        raise DecodeError(f"CoT event refused: {decoder.last_error}")
    tail = decoder._pending.strip()
    if tail.startswith(_OPEN):
        raise DecodeError(f"incomplete CoT event: {len(tail)} bytes without </event>")
    garbage = decoder.garbage_bytes + len(tail)
    if garbage:
        raise DecodeError(f"{garbage} bytes outside the CoT event")
    if len(events) != 1:
        raise DecodeError(f"expected one CoT event, found {len(events)}")
    return events[0]
