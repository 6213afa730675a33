"""Vessels of interest: a watchlist, and the alerts it raises (transport security). No IO.

A :class:`Watchlist` is plain data (``as_dict``/``from_dict`` round-trip through JSON), so a
node can carry it as a labelled item. An entry names a vessel by any of MMSI, IMO number,
name or call sign; a vessel matches when any given identifier matches. Names are compared
after :func:`normalize_name` (Unicode folded to ASCII, case, punctuation and spacing removed,
a leading type prefix such as ``MV``, ``M/V``, ``MT``, ``FV`` or ``SS`` dropped) and call signs
after removing spaces and case. Areas are polygons (port approaches, straits) in lon/lat.

A :class:`WatchMonitor` takes static identity reports, position reports in time order and
detector results, and returns alerts as dicts:

* ``watch_appeared`` — a listed vessel's first position, or its first after a silence of at
  least ``reappear_seconds``;
* ``watch_area_entry`` — a listed vessel's position inside an area when its previous
  position was outside (or it had none);
* ``watch_dark`` — an ``ais_gap`` of a listed vessel;
* ``watch_encounter`` — an encounter involving a listed vessel.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import shapely
from shapely.geometry import Polygon

from trilat.analytics.maritime.events import AisGap, Encounter, Result, rfc3339
from trilat.core.errors import DecodeError

NAME_PREFIXES: Final = ("MV", "MT", "MS", "MY", "FV", "SS", "RV", "TS")
"""Type prefixes dropped from the front of a name (``M/V``, ``M.V.`` normalise to ``MV``)."""

_PUNCTUATION = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    """Canonical form of a ship name for matching: ``"M/V  Wise-Honest "`` → ``"WISEHONEST"``."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = folded.upper().replace("@", " ")
    text = re.sub(r"\b([A-Z])[/.]\s*([A-Z])\b\.?", r"\1\2", text)  # M/V, M.V. -> MV
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()
    for prefix in NAME_PREFIXES:
        if text.startswith(prefix + " ") and len(text) > len(prefix) + 1:
            text = text[len(prefix) + 1 :]
            break
    return text.replace(" ", "")


def normalize_callsign(callsign: str) -> str:
    return _SPACES.sub("", callsign).upper().strip("@")


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One vessel of interest; at least one identifier is required."""

    entry_id: str
    mmsi: int | None = None
    imo: int | None = None
    name: str | None = None
    callsign: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.mmsi is None and self.imo is None and not self.name and not self.callsign:
            raise ValueError(f"watch entry {self.entry_id!r} names no identifier")


@dataclass(frozen=True, slots=True)
class WatchArea:
    """A named polygon (lon, lat vertices) such as a port approach or a strait."""

    area_id: str
    name: str
    vertices: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.vertices) < 3:
            raise ValueError(f"area {self.area_id!r} needs at least three vertices")
        for lon, lat in self.vertices:
            if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                raise ValueError(f"area {self.area_id!r}: vertex ({lon}, {lat}) is off the globe")


@dataclass(frozen=True, slots=True)
class Watchlist:
    entries: tuple[WatchEntry, ...] = ()
    areas: tuple[WatchArea, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data for an item body (JSON-safe; ``from_dict`` gives it back)."""
        return {
            "entries": [_entry_dict(e) for e in self.entries],
            "areas": [
                {"id": a.area_id, "name": a.name, "vertices": [list(v) for v in a.vertices]}
                for a in self.areas
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Watchlist:
        """Validate and build; DecodeError names the offending entry and field."""
        unknown = set(data) - {"entries", "areas"}
        if unknown:
            raise DecodeError(f"watchlist: unknown key {sorted(unknown)[0]!r}")
        entries = []
        for i, raw in enumerate(data.get("entries", [])):
            where = f"watchlist entries[{i}]"
            extra = set(raw) - {"id", "mmsi", "imo", "name", "callsign", "reason"}
            if extra:
                raise DecodeError(f"{where}: unknown field {sorted(extra)[0]!r}")
            try:
                entries.append(
                    WatchEntry(
                        entry_id=str(raw.get("id", f"entry-{i}")),
                        mmsi=_optional_int(raw.get("mmsi"), where, "mmsi"),
                        imo=_optional_int(raw.get("imo"), where, "imo"),
                        name=raw.get("name"),
                        callsign=raw.get("callsign"),
                        reason=str(raw.get("reason", "")),
                    )
                )
            except ValueError as exc:
                raise DecodeError(f"{where}: {exc}") from None
        areas = []
        for i, raw in enumerate(data.get("areas", [])):
            where = f"watchlist areas[{i}]"
            try:
                vertices = tuple((float(v[0]), float(v[1])) for v in raw["vertices"])
                areas.append(WatchArea(str(raw["id"]), str(raw.get("name", raw["id"])), vertices))
            except KeyError as exc:
                raise DecodeError(f"{where}: missing field {exc.args[0]!r}") from None
            except (ValueError, TypeError, IndexError) as exc:
                raise DecodeError(f"{where}: {exc}") from None
        return cls(tuple(entries), tuple(areas))


def _entry_dict(entry: WatchEntry) -> dict[str, Any]:
    fields = {
        "id": entry.entry_id,
        "mmsi": entry.mmsi,
        "imo": entry.imo,
        "name": entry.name,
        "callsign": entry.callsign,
        "reason": entry.reason,
    }
    return {k: v for k, v in fields.items() if v not in (None, "")}


def _optional_int(value: Any, where: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DecodeError(f"{where}: {name} {value!r} is not a number")
    try:
        return int(value)
    except ValueError:
        raise DecodeError(f"{where}: {name} {value!r} is not a number") from None


@dataclass
class _Identity:
    imo: int | None = None
    name: str | None = None
    callsign: str | None = None


@dataclass
class WatchMonitor:
    """Raises watchlist alerts from identities, positions (in time order) and results."""

    watchlist: Watchlist
    reappear_seconds: int = 6 * 3600
    _identity: dict[int, _Identity] = field(default_factory=dict)
    _last_seen: dict[int, int] = field(default_factory=dict)
    _inside: dict[tuple[int, str], bool] = field(default_factory=dict)
    _areas: list[tuple[WatchArea, Polygon]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for area in self.watchlist.areas:
            polygon = Polygon(area.vertices)
            shapely.prepare(polygon)
            self._areas.append((area, polygon))
        self._by_mmsi = {e.mmsi: e for e in self.watchlist.entries if e.mmsi is not None}
        self._by_imo = {e.imo: e for e in self.watchlist.entries if e.imo is not None}
        self._by_name = {normalize_name(e.name): e for e in self.watchlist.entries if e.name}
        self._by_callsign = {
            normalize_callsign(e.callsign): e for e in self.watchlist.entries if e.callsign
        }

    def observe_static(
        self,
        mmsi: int,
        *,
        imo: int | None = None,
        name: str | None = None,
        callsign: str | None = None,
    ) -> None:
        """Identity from a static report (AIS types 5, 19, 24)."""
        known = self._identity.setdefault(mmsi, _Identity())
        if imo:
            known.imo = imo
        if name and name.strip("@ "):
            known.name = name
        if callsign and callsign.strip("@ "):
            known.callsign = callsign

    def entry_for(self, mmsi: int) -> WatchEntry | None:
        """The watch entry a vessel matches, by MMSI, IMO, name or call sign."""
        entry = self._by_mmsi.get(mmsi)
        if entry is not None:
            return entry
        known = self._identity.get(mmsi)
        if known is None:
            return None
        if known.imo is not None and known.imo in self._by_imo:
            return self._by_imo[known.imo]
        if known.name and normalize_name(known.name) in self._by_name:
            return self._by_name[normalize_name(known.name)]
        if known.callsign and normalize_callsign(known.callsign) in self._by_callsign:
            return self._by_callsign[normalize_callsign(known.callsign)]
        return None

    def observe_position(
        self, mmsi: int, time: int, lat: float, lon: float
    ) -> list[dict[str, Any]]:
        entry = self.entry_for(mmsi)
        if entry is None:
            return []
        alerts: list[dict[str, Any]] = []
        last = self._last_seen.get(mmsi)
        self._last_seen[mmsi] = time
        where = {"time": rfc3339(time), "lat": lat, "lon": lon}
        if last is None or time - last >= self.reappear_seconds:
            alerts.append(
                {"type": "watch_appeared", "mmsi": mmsi, "entry": entry.entry_id, **where}
            )
        for area, polygon in self._areas:
            inside = bool(shapely.contains_xy(polygon, lon, lat))
            was = self._inside.get((mmsi, area.area_id), False)
            self._inside[(mmsi, area.area_id)] = inside
            if inside and not was:
                alerts.append(
                    {"type": "watch_area_entry", "mmsi": mmsi, "entry": entry.entry_id,
                     "area": area.area_id, **where}
                )  # fmt: skip
        return alerts

    def observe_result(self, result: Result) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = []
        if isinstance(result, AisGap):
            entry = self.entry_for(result.mmsi)
            if entry is not None:
                alerts.append({**result.as_event(), "type": "watch_dark", "entry": entry.entry_id})
        elif isinstance(result, Encounter):
            for mmsi in result.vessels:
                entry = self.entry_for(mmsi)
                if entry is not None:
                    alerts.append(
                        {**result.as_event(), "type": "watch_encounter", "mmsi": mmsi,
                         "entry": entry.entry_id}
                    )  # fmt: skip
        return alerts


def watch_alerts(
    watchlist: Watchlist,
    rows: Iterable[tuple[int, int, float, float]],
    results: Sequence[Result] = (),
    identities: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """All alerts for position *rows* (time order), detector *results* and known identities."""
    monitor = WatchMonitor(watchlist)
    for mmsi, known in (identities or {}).items():
        monitor.observe_static(
            mmsi, imo=known.get("imo"), name=known.get("shipname"), callsign=known.get("callsign")
        )
    alerts: list[dict[str, Any]] = []
    for mmsi, time, lat, lon in rows:
        alerts.extend(monitor.observe_position(mmsi, time, lat, lon))
    for result in results:
        alerts.extend(monitor.observe_result(result))
    return alerts
