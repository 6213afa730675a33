"""Detector results, their SPEC §9 event dicts, and the derived-item helpers. No IO."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trilat.core.clock import format_time


def rfc3339(epoch_seconds: int) -> str:
    """Epoch seconds as RFC 3339 UTC (``2015-03-19T07:40:00.000Z``)."""
    return format_time(datetime.fromtimestamp(epoch_seconds, UTC))


@dataclass(frozen=True, slots=True)
class Encounter:
    """A merged, accepted ship-to-ship encounter (SPEC §7)."""

    vessels: tuple[int, int]
    start: int
    end: int
    median_distance_km: float
    median_speed_knots: float
    lat: float
    lon: float

    def as_event(self) -> dict[str, Any]:
        return {
            "type": "encounter",
            "vessels": [self.vessels[0], self.vessels[1]],
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "median_distance_km": self.median_distance_km,
            "median_speed_knots": self.median_speed_knots,
            "lat": self.lat,
            "lon": self.lon,
        }


@dataclass(frozen=True, slots=True)
class Loitering:
    """A run of slow movement far from shore by one vessel (SPEC §7)."""

    mmsi: int
    start: int
    end: int
    lat: float
    lon: float

    def as_event(self) -> dict[str, Any]:
        return {
            "type": "loitering",
            "mmsi": self.mmsi,
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "lat": self.lat,
            "lon": self.lon,
        }


@dataclass(frozen=True, slots=True)
class AisGap:
    """A reporting silence of one vessel (SPEC §7); ``start``/``end`` are the bracketing reports."""

    mmsi: int
    start: int
    end: int
    possible_disabling: bool

    @property
    def hours(self) -> float:
        return round((self.end - self.start) / 3600.0, 2)

    def as_event(self) -> dict[str, Any]:
        return {
            "type": "ais_gap",
            "mmsi": self.mmsi,
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "hours": self.hours,
            "possible_disabling": self.possible_disabling,
        }


Result = Encounter | Loitering | AisGap


def result_vessels(result: Result) -> tuple[int, ...]:
    """The MMSIs a result is about."""
    if isinstance(result, Encounter):
        return result.vessels
    return (result.mmsi,)


def sort_key(result: Result) -> tuple[int, int, tuple[int, ...]]:
    return (result.start, result.end, result_vessels(result))


def derived_refs(result: Result, track_ids: Mapping[int, str]) -> list[str]:
    """Item ids of the vessels' tracks this result derives from (those the caller knows)."""
    return [track_ids[m] for m in result_vessels(result) if m in track_ids]


def derived_item(
    result: Result, input_labels: Iterable[Any], track_ids: Mapping[int, str]
) -> dict[str, Any]:
    """What the node needs to make an item of *result*: kind, body, label and refs.

    The label is the roll-up of the input labels (``trilat.core.labels.roll_up``), never less
    restrictive than any input (SPEC §7). Raises ValueError when no input label is given: a
    derived item without a label would fail open.
    """
    from trilat.core.labels import roll_up  # the labels module is built alongside this one

    labels = list(input_labels)
    if not labels:
        raise ValueError("a derived item needs the labels of its inputs")
    event = result.as_event()
    return {
        "kind": event["type"],
        "body": event,
        "label": roll_up(labels),
        "refs": derived_refs(result, track_ids),
    }


def events_of(results: Sequence[Result]) -> list[dict[str, Any]]:
    """SPEC §9 event dicts, ordered by start, end and vessels."""
    return [r.as_event() for r in sorted(results, key=sort_key)]
