"""Live maritime and airspace analytics over the items a node accepts.

**Maritime.** ``track`` items on a ``maritime.*`` topic whose ``uid`` is ``mmsi-<MMSI>`` feed
the streaming engine (``trilat.analytics.maritime.stream``) as they are accepted, whatever
their source (AIS input, API, CoT, federation peer). Each final encounter, loitering or gap
becomes an item (``encounter``, ``loitering``, ``ais_gap``; topic ``maritime.<kind>``) whose
label is the roll-up of the labels the vessels' positions carried around the event's time
and whose ``refs`` name the vessels' latest track items. With a watchlist, a listed vessel
entering a watched area becomes a ``zone_entry`` item (zone = the area id, authority
``watchlist``) and its (re)appearance an ``observation``.

**Airspace.** ``track`` items on an ``air.*`` topic are checked against the ADIZs and
territorial airspace of the configured view as they arrive: each new fix is tested with the
track's previous one (geodesic segment, interpolated crossing time), and every entry or exit
becomes a ``zone_entry`` item labelled with the roll-up of both fixes. Every minute of data
time, the fixes of the last ``patrol_window_s`` are searched for joint patrols; a new group
becomes an ``observation`` (``attributes.type = "joint_patrol"``, topic ``air.joint_patrol``),
and one that goes on is re-issued, superseding the previous item, each time its end moves
by ``patrol_update_s``.

Both engines take time only from the items; they hold bounded state (per vessel/aircraft,
and a window of fixes per aircraft).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from trilat.analytics.airspace import Fix, JointPatrol, joint_patrols, zone_events
from trilat.analytics.geodata import Zone, zones_for_view
from trilat.analytics.maritime.events import AisGap, Encounter, Loitering, Result
from trilat.analytics.maritime.stream import StreamAnalyzer
from trilat.analytics.maritime.watchlist import WatchMonitor
from trilat.core.clock import format_time, parse_time
from trilat.core.items import Envelope, Item
from trilat.core.labels import Label
from trilat.ingest.labels import LabelSpans, derived_label

_log = logging.getLogger(__name__)

MARITIME_SLACK_S: Final = 6 * 3600
"""Labels of a vessel's positions within this long of an event count toward its roll-up
(covers the resampling lookahead, interpolation across 70-min gaps and the reorder buffer)."""


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_time(text).timestamp()
    except ValueError:
        return None


def _mmsi(uid: Any) -> int | None:
    if isinstance(uid, str) and uid.startswith("mmsi-") and uid[5:].isdigit():
        return int(uid[5:])
    return None


def _under(topics: tuple[str, ...], prefix: str) -> bool:
    return any(t == prefix or t.startswith(prefix + ".") for t in topics)


@dataclass(frozen=True, slots=True)
class Derived:
    """An item to originate, and the key under which a later version supersedes it."""

    item: Item
    chain: str | None = None


class MaritimeLive:
    """Streaming encounter / loitering / gap detection (and watchlist) over track items."""

    def __init__(self, *, watch: WatchMonitor | None = None, max_vessels: int = 200_000) -> None:
        self.engine = StreamAnalyzer(self._result)
        self.watch = watch
        self.spans = LabelSpans(max_subjects=max_vessels)
        self._heads: OrderedDict[int, str] = OrderedDict()
        self._max_vessels = max_vessels
        self._out: list[Derived] = []
        self.positions = 0
        self.results = 0

    def wants(self, envelope: Envelope) -> bool:
        return envelope.kind == "track" and _under(envelope.topics, "maritime")

    def take(self, envelope: Envelope) -> list[Derived]:
        """Feed one accepted track item; returns the items it made final."""
        body = envelope.body
        mmsi = _mmsi(body.get("uid"))
        at = _epoch(body.get("time"))
        point = body.get("point")
        if mmsi is None or at is None or not isinstance(point, Mapping):
            return []
        lat, lon = point.get("lat"), point.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            return []
        self.positions += 1
        self.spans.note(mmsi, envelope.label, at)
        self._heads[mmsi] = envelope.id
        self._heads.move_to_end(mmsi)
        if len(self._heads) > self._max_vessels:
            self._heads.popitem(last=False)
        self.engine.push(mmsi, int(at), float(lat), float(lon))
        if self.watch is not None:
            self.watch.observe_static(
                mmsi, imo=body.get("imo"), name=body.get("name"), callsign=body.get("callsign")
            )
            for alert in self.watch.observe_position(mmsi, int(at), float(lat), float(lon)):
                self._alert(alert, envelope)
        out, self._out = self._out, []
        return out

    def _result(self, result: Result) -> None:
        self.results += 1
        if isinstance(result, Encounter):
            vessels: tuple[int, ...] = result.vessels
        else:
            vessels = (result.mmsi,)
        labels: list[Label] = []
        for mmsi in vessels:
            labels.extend(self.spans.labels(mmsi, result.start, result.end, MARITIME_SLACK_S))
        if not labels:  # a result about a vessel never seen here cannot be labelled: drop
            _log.warning("ingest.maritime_unlabelled vessels=%s", vessels)
            return
        event = {k: list(v) if isinstance(v, tuple) else v for k, v in result.as_event().items()}
        kind = event["type"]
        if isinstance(result, AisGap | Loitering | Encounter):
            refs = tuple(dict.fromkeys(self._heads[m] for m in vessels if m in self._heads))
            self._out.append(
                Derived(
                    Item(
                        kind=kind,
                        label=derived_label(labels),
                        topics=(f"maritime.{kind}",),
                        body=event,
                        refs=refs,
                    )
                )
            )
        if self.watch is not None:
            for alert in self.watch.observe_result(result):
                self._out.append(
                    Derived(
                        Item(
                            kind="observation",
                            label=derived_label(labels),
                            topics=("maritime.watch",),
                            body=_watch_body(alert),
                            refs=tuple(self._heads[m] for m in vessels if m in self._heads),
                        )
                    )
                )

    def _alert(self, alert: dict[str, Any], envelope: Envelope) -> None:
        label = derived_label([envelope.label])
        if alert["type"] == "watch_area_entry":
            body = {
                "type": "zone_entry",
                "track": f"mmsi-{alert['mmsi']}",
                "zone": str(alert["area"]),
                "authority": "watchlist",
                "time": alert["time"],
                "lat": alert["lat"],
                "lon": alert["lon"],
            }
            item = Item("zone_entry", label, ("maritime.watch",), body, refs=(envelope.id,))
        else:
            item = Item(
                "observation", label, ("maritime.watch",), _watch_body(alert), refs=(envelope.id,)
            )
        self._out.append(Derived(item))


def _watch_body(alert: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        key: value
        for key, value in alert.items()
        if isinstance(value, str | int | float | bool) and key not in ("lat", "lon")
    }
    body: dict[str, Any] = {
        "observed": alert.get("time") or alert.get("start") or alert.get("end"),
        "text": f"watchlist {alert['type'].removeprefix('watch_')}: entry {alert.get('entry')}",
        "sensor": "watchlist",
        "attributes": attributes,
    }
    if isinstance(alert.get("lat"), int | float) and isinstance(alert.get("lon"), int | float):
        body["point"] = {"lat": alert["lat"], "lon": alert["lon"]}
    return body


@dataclass(slots=True)
class _Aircraft:
    last: tuple[Fix, Label, str] | None = None
    window: deque[tuple[Fix, Label, str]] = field(default_factory=lambda: deque(maxlen=512))


@dataclass(slots=True)
class _Patrol:
    item_id: str | None
    start: datetime
    end: datetime


class AirspaceLive:
    """Zone entries/exits per fix and joint patrols over a sliding window of fixes."""

    def __init__(
        self,
        view: str,
        *,
        zones: tuple[Zone, ...] | None = None,
        patrol_window_s: float = 1800.0,
        patrol_every_s: float = 60.0,
        patrol_update_s: float = 600.0,
        max_aircraft: int = 20_000,
    ) -> None:
        self.view = view
        self.zones = zones if zones is not None else zones_for_view(view)
        self.patrol_window_s = patrol_window_s
        self.patrol_every_s = patrol_every_s
        self.patrol_update_s = patrol_update_s
        self.max_aircraft = max_aircraft
        self._aircraft: OrderedDict[str, _Aircraft] = OrderedDict()
        self._patrols: dict[tuple[str, ...], _Patrol] = {}
        self._last_patrol_check: float | None = None
        self._newest: float | None = None
        self.fixes = 0

    def wants(self, envelope: Envelope) -> bool:
        return envelope.kind == "track" and _under(envelope.topics, "air")

    def take(self, envelope: Envelope) -> list[Derived]:
        body = envelope.body
        uid, point = body.get("uid"), body.get("point")
        at = _epoch(body.get("time"))
        if not isinstance(uid, str) or at is None or not isinstance(point, Mapping):
            return []
        lat, lon = point.get("lat"), point.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            return []
        fix = Fix(
            track=uid,
            time=datetime.fromtimestamp(at, UTC),
            lat=float(lat),
            lon=float(lon),
            alt_m=point.get("alt_m"),
            nation=body.get("nation"),
            aircraft_type=body.get("type"),
        )
        self.fixes += 1
        aircraft = self._aircraft.get(uid)
        if aircraft is None:
            aircraft = self._aircraft[uid] = _Aircraft()
            if len(self._aircraft) > self.max_aircraft:
                self._aircraft.popitem(last=False)
        else:
            self._aircraft.move_to_end(uid)
        out: list[Derived] = []
        previous = aircraft.last
        if previous is not None and previous[0].time >= fix.time:
            return out  # late or repeated fix: the segment it would start is already judged
        if previous is not None:
            labels = derived_label([previous[1], envelope.label])
            refs = tuple(dict.fromkeys((previous[2], envelope.id)))
            for event in zone_events([previous[0], fix], self.zones):
                out.append(
                    Derived(
                        Item(
                            "zone_entry", labels, ("air.zone_entry",), event.item_body(), refs=refs
                        )
                    )
                )
        aircraft.last = (fix, envelope.label, envelope.id)
        aircraft.window.append(aircraft.last)
        self._newest = at if self._newest is None else max(self._newest, at)
        if self._last_patrol_check is None or at - self._last_patrol_check >= self.patrol_every_s:
            self._last_patrol_check = at
            out.extend(self._patrol_items())
        return out

    def _patrol_items(self) -> list[Derived]:
        if self._newest is None:
            return []
        horizon = self._newest - self.patrol_window_s
        fixes: list[Fix] = []
        meta: dict[str, list[tuple[Label, str, float]]] = {}
        for uid in list(self._aircraft):
            window = self._aircraft[uid].window
            while window and window[0][0].time.timestamp() < horizon:
                window.popleft()
            for fix, label, item_id in window:
                fixes.append(fix)
                meta.setdefault(uid, []).append((label, item_id, fix.time.timestamp()))
        if len(meta) < 2:
            return []
        out: list[Derived] = []
        for patrol in joint_patrols(fixes):
            out.extend(self._patrol(patrol, meta))
        return out

    def _patrol(
        self, patrol: JointPatrol, meta: dict[str, list[tuple[Label, str, float]]]
    ) -> list[Derived]:
        key = patrol.tracks
        known = self._patrols.get(key)
        if known is not None and (patrol.end - known.end).total_seconds() < self.patrol_update_s:
            return []
        start = patrol.start if known is None else min(known.start, patrol.start)
        labels = [label for track in key for label, _, _ in meta.get(track, [])]
        refs = tuple(dict.fromkeys(meta[track][-1][1] for track in key if meta.get(track)))
        if not labels:
            return []
        body = {
            "observed": format_time(start),
            "text": (
                f"joint patrol: {', '.join(key)} ({', '.join(patrol.nations)}) "
                f"from {format_time(start)} to {format_time(patrol.end)}"
            ),
            "sensor": "trilat.airspace",
            "attributes": {
                "type": "joint_patrol",
                "tracks": ",".join(key),
                "nations": ",".join(patrol.nations),
                "start": format_time(start),
                "end": format_time(patrol.end),
            },
        }
        self._patrols[key] = _Patrol(None if known is None else known.item_id, start, patrol.end)
        item = Item(
            "observation",
            derived_label(labels),
            ("air.joint_patrol",),
            body,
            refs=refs,
            supersedes=None if known is None else known.item_id,
        )
        return [Derived(item, chain="patrol:" + ",".join(key))]

    def stored(self, derived: Derived, envelope: Envelope) -> None:
        """Remember the id of a stored patrol item (the next version supersedes it)."""
        if derived.chain and derived.chain.startswith("patrol:"):
            key = tuple(derived.chain.removeprefix("patrol:").split(","))
            patrol = self._patrols.get(key)
            if patrol is not None:
                patrol.item_id = envelope.id
