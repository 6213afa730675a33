"""Historical replay: the CNS North Korea missile-test database as ``observation`` items.

The James Martin Center for Nonproliferation Studies (CNS) publishes its database of DPRK
ballistic-missile tests as three JSON documents (Apache License 2.0):

* ``test.en.json``: ``{"timeBins": [{"year": Y, "data": [test, …]}, …]}``, one record per
  missile fired, with ``date``, ``time`` (``"HH:MM (UTC)"`` or ``"unknown"``), ``series`` (the
  missile's place in a salvo), ``missile`` and ``facility`` ids, ``landing``, ``apogee`` and
  ``distance`` (km, as text), ``bearing`` (degrees), ``outcome`` and ``description``;
* ``missile.en.json``: missile id → ``name``, ``type`` (SRBM, MRBM, IRBM, ICBM, SLBM, SLV, …);
* ``facility.en.json``: ``{"facilities": {id: {"name", "lat", "lon"}}}``.

Each test becomes one UNCLASSIFIED ``observation`` body on topic ``dprk.missile``:
``observed`` is the launch time (midnight UTC, or the first of the month, when only the day or
month is known; ``attributes.time_precision`` says "minute", "day" or "month"), ``point``
the launch facility (none for the "unknown" facility), ``text`` the database's description,
and ``attributes`` the remaining facts with "unknown" and "na" as null. :func:`summarize`
counts tests per year and missile type.

Pure: callers pass the parsed JSON documents; no IO, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date as calendar_date
from typing import Any, Final

from trilat.core.errors import DecodeError
from trilat.core.labels import Label, parse_label

__all__ = [
    "SOURCE",
    "TOPIC",
    "HistoricalObservation",
    "MissileSummary",
    "observations_from_cns",
    "summarize",
]

SOURCE: Final = "CNS North Korea Missile Test Database"
TOPIC: Final = "dprk.missile"
KIND: Final = "observation"
_UNKNOWN: Final = frozenset({"unknown", "na", "n/a", ""})


@dataclass(frozen=True, slots=True)
class HistoricalObservation:
    """One test as an item to seal: kind, topics, label and body."""

    body: Mapping[str, Any]
    label: Label
    kind: str = KIND
    topics: tuple[str, ...] = (TOPIC,)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _UNKNOWN else text


def _km(value: Any, where: str, key: str) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise DecodeError(f"{where}: {key!r} is not a number: {value!r}") from None


def _observed(date: str, time: Any, where: str) -> tuple[str, str]:
    """RFC 3339 launch time and its precision: "minute", "day" or "month"."""
    parts = date.split("-")
    if not (2 <= len(parts) <= 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4):
        raise DecodeError(f"{where}: 'date' is not YYYY-MM-DD or YYYY-MM: {date!r}")
    try:
        calendar_date(int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else 1)
    except ValueError:
        raise DecodeError(f"{where}: 'date' is not a calendar date: {date!r}") from None
    if len(parts) == 2:
        return f"{date}-01T00:00:00Z", "month"
    clock = _text(time)
    if clock is None:
        return f"{date}T00:00:00Z", "day"
    hhmm = clock.removesuffix("(UTC)").strip().split(":")
    if len(hhmm) != 2 or not all(p.isdigit() for p in hhmm):
        raise DecodeError(f"{where}: 'time' is not 'HH:MM (UTC)': {time!r}")
    hours, minutes = int(hhmm[0]), int(hhmm[1])
    if hours > 23 or minutes > 59:
        raise DecodeError(f"{where}: 'time' out of range: {time!r}")
    return f"{date}T{hours:02d}:{minutes:02d}:00Z", "minute"


def observations_from_cns(
    tests: Mapping[str, Any],
    missiles: Mapping[str, Any],
    facilities: Mapping[str, Any],
) -> list[HistoricalObservation]:
    """Every test of the database as an observation, in the database's order.

    Raises DecodeError naming the year bin, record index and member of the first bad value.
    """
    label = parse_label("UNCLASSIFIED")
    sites = facilities.get("facilities", facilities)
    bins = tests.get("timeBins")
    if not isinstance(bins, list):
        raise DecodeError("test database: missing 'timeBins' list")
    observations = []
    for year_bin in bins:
        year = year_bin.get("year")
        for index, record in enumerate(year_bin.get("data", [])):
            where = f"test database year {year} record {index}"
            observations.append(HistoricalObservation(_body(record, missiles, sites, where), label))
    return observations


def _body(
    record: Mapping[str, Any],
    missiles: Mapping[str, Any],
    sites: Mapping[str, Any],
    where: str,
) -> dict[str, Any]:
    date = record.get("date")
    if not isinstance(date, str):
        raise DecodeError(f"{where}: missing 'date'")
    observed, precision = _observed(date, record.get("time"), where)
    missile_id = _text(record.get("missile")) or "unknown"
    missile = missiles.get(missile_id, {})
    facility_id = _text(record.get("facility")) or "unknown"
    facility = sites.get(facility_id) if facility_id != "unknown" else None
    bearing = record.get("bearing")
    attributes: dict[str, str | int | float | bool | None] = {
        "database": SOURCE,
        "test_id": f"{date}#{record.get('series', 1)}",
        "time_precision": precision,
        "series": record.get("series"),
        "missile": missile_id,
        "missile_name": missile.get("name", missile_id),
        "missile_type": missile.get("type", "Unknown"),
        "facility": facility_id,
        "facility_name": facility.get("name") if facility else None,
        "landing": _text(record.get("landing")),
        "apogee_km": _km(record.get("apogee"), where, "apogee"),
        "distance_km": _km(record.get("distance"), where, "distance"),
        "bearing_deg": float(bearing) if isinstance(bearing, int | float) else None,
        "outcome": _text(record.get("outcome")),
    }
    if "glide" in record:
        attributes["glide"] = _text(record.get("glide"))
    body: dict[str, Any] = {
        "observed": observed,
        "sensor": SOURCE,
        "attributes": attributes,
    }
    description = _text(record.get("description"))
    if description:
        body["text"] = description
    if facility and isinstance(facility.get("lat"), int | float):
        body["point"] = {"lat": float(facility["lat"]), "lon": float(facility["lon"])}
    return body


@dataclass(frozen=True, slots=True)
class MissileSummary:
    """Tests per year and missile type."""

    years: tuple[int, ...]
    types: tuple[str, ...]
    counts: Mapping[tuple[int, str], int]

    def total(self, *, year: int | None = None, missile_type: str | None = None) -> int:
        return sum(
            n
            for (y, t), n in self.counts.items()
            if (year is None or y == year) and (missile_type is None or t == missile_type)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "years": {
                str(year): {
                    t: self.counts[(year, t)] for t in self.types if (year, t) in self.counts
                }
                for year in self.years
            },
            "types": {t: self.total(missile_type=t) for t in self.types},
            "total": self.total(),
        }


def summarize(observations: Iterable[HistoricalObservation]) -> MissileSummary:
    """Count tests per year (UTC date of launch) and missile type."""
    counts: Counter[tuple[int, str]] = Counter()
    for observation in observations:
        body = observation.body
        year = int(str(body["observed"])[:4])
        missile_type = str(body.get("attributes", {}).get("missile_type") or "Unknown")
        counts[(year, missile_type)] += 1
    years = tuple(sorted({year for year, _ in counts}))
    by_total = Counter[str]()
    for (_, missile_type), n in counts.items():
        by_total[missile_type] += n
    types = tuple(sorted(by_total, key=lambda t: (-by_total[t], t)))
    return MissileSummary(years=years, types=types, counts=dict(counts))
