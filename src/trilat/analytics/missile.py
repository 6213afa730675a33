"""Missile-warning fusion: one launch seen by several nations' sensors → one event (SPEC §7).

**Reports.** A ``missile_event`` body (SPEC §5) carries the launch time and point, optionally the
impact point and time, apogee and flight path, the source sensor and nation, and the
uncertainty: ``error_radius_m`` on a point (1σ, circular) or a ``*_covariance_m2`` triple
``[σ²east, cov(east, north), σ²north]`` (m², wins over the radius); ``*_time_error_s`` (1σ).
Missing uncertainties take :class:`FusionParams` defaults. :func:`report_from_body` reads one.

**Association** (:class:`FusionParams`): a report joins a launch when its launch time is within
``time_gate_s`` of the launch's fused time and its launch point within ``distance_gate_km`` of the
fused point (each gate widened to 3σ of the combined uncertainty when that is larger), and when
both have an impact point, those lie within ``impact_gate_km`` of each other. Of several launches
that pass, the nearest (normalised time and distance) wins. One sensor contributes one report
per launch: a report from a sensor already in every passing launch starts a new launch (a
salvo), unless it *supersedes* that sensor's earlier report, which it then replaces. A launch
older than ``active_window_s`` before the newest report's launch time takes no new reports
(a late report starts a launch of its own), which keeps association time bounded.

**Fusion** is inverse-variance weighting: positions in an azimuthal equidistant plane centred on
the launch's first report (information form: P = (Σ Pᵢ⁻¹)⁻¹, x = P Σ Pᵢ⁻¹ xᵢ), times as scalars,
with the fused 1σ kept. The apogee is the plain mean of the reports giving one; the flight path
is the one of the report with the smallest launch-position variance. Each source's item id is
kept, and the fused label is :func:`trilat.core.labels.roll_up` of the sources' labels, never less
restrictive than any of them.

**Real time**: :class:`LaunchFuser` is incremental, O(1) per report in the number of reports of
the launch; :func:`warning_body` gives the ``missile_event`` body for topic
``dprk.missile.warning`` as soon as one report exists.

Pure: no IO, no clock (times come from the reports).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
from pyproj import Geod

from trilat.analytics.eez import eez_check
from trilat.core.clock import format_time, parse_time
from trilat.core.errors import DecodeError
from trilat.core.labels import Label, roll_up

__all__ = [
    "WARNING_KIND",
    "WARNING_TOPIC",
    "FusedLaunch",
    "FusionParams",
    "LaunchFuser",
    "MissileReport",
    "MissileWarning",
    "PositionEstimate",
    "fuse",
    "impact_eez",
    "report_from_body",
    "warning_body",
    "warning_item",
]

WARNING_TOPIC: Final = "dprk.missile.warning"
WARNING_KIND: Final = "missile_event"
_GEOD: Final = Geod(ellps="WGS84")


@dataclass(frozen=True, slots=True)
class FusionParams:
    """Association gates and default uncertainties (documented in the module docstring)."""

    time_gate_s: float = 120.0
    distance_gate_km: float = 150.0
    impact_gate_km: float = 500.0
    sigma_gate: float = 3.0
    default_position_error_m: float = 10_000.0
    default_time_error_s: float = 30.0
    active_window_s: float = 3_600.0


@dataclass(frozen=True, slots=True)
class PositionEstimate:
    """A position with its 2×2 covariance in metres² (east-east, east-north, north-north)."""

    lat: float
    lon: float
    covariance_m2: tuple[float, float, float]

    @property
    def error_radius_m(self) -> float:
        """1σ radius of the circle that bounds the error ellipse (largest semi-axis)."""
        ee, en, nn = self.covariance_m2
        half_trace = (ee + nn) / 2.0
        spread = math.sqrt(max(0.0, ((ee - nn) / 2.0) ** 2 + en * en))
        return math.sqrt(half_trace + spread)

    def as_dict(self) -> dict[str, float]:
        return {
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "error_radius_m": round(self.error_radius_m, 1),
        }


@dataclass(frozen=True, slots=True)
class MissileReport:
    """One sensor's report of one launch, as read from a ``missile_event`` item."""

    ref: str  # item id of the report
    label: Label
    source_nation: str
    source_sensor: str
    launch_time: datetime
    launch_time_error_s: float
    launch: PositionEstimate
    impact: PositionEstimate | None = None
    impact_time: datetime | None = None
    impact_time_error_s: float | None = None
    apogee_km: float | None = None
    flight_path: tuple[dict[str, float], ...] = ()
    missile_type: str | None = None
    supersedes: str | None = None

    @property
    def source(self) -> tuple[str, str]:
        return (self.source_nation, self.source_sensor)


def _number(body: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    value = body.get(key)
    if value is None:
        if required:
            raise DecodeError(f"missile_event body: missing {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DecodeError(f"missile_event body: {key!r} is not a finite number: {value!r}")
    return float(value)


def _need_number(body: Mapping[str, Any], key: str) -> float:
    value = _number(body, key, required=True)
    if value is None:  # unreachable: required
        raise DecodeError(f"missile_event body: missing {key!r}")
    return value


def _need_time(body: Mapping[str, Any], key: str) -> datetime:
    value = _time(body, key, required=True)
    if value is None:  # unreachable: required
        raise DecodeError(f"missile_event body: missing {key!r}")
    return value


def _time(body: Mapping[str, Any], key: str, *, required: bool = False) -> datetime | None:
    value = body.get(key)
    if value is None:
        if required:
            raise DecodeError(f"missile_event body: missing {key!r}")
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        raise DecodeError(
            f"missile_event body: {key!r} is not an RFC 3339 UTC time: {value!r}"
        ) from None


def _covariance(
    body: Mapping[str, Any], point: Mapping[str, Any], key: str, default_m: float
) -> tuple[float, float, float]:
    given = body.get(key)
    if given is not None:
        if not isinstance(given, list | tuple) or len(given) != 3:
            raise DecodeError(f"missile_event body: {key!r} must be [ee, en, nn] in m²")
        ee, en, nn = (float(v) for v in given)
        if ee <= 0 or nn <= 0 or en * en >= ee * nn:
            raise DecodeError(f"missile_event body: {key!r} is not positive definite: {given!r}")
        return (ee, en, nn)
    radius = point.get("error_radius_m")
    if radius is None:
        radius = default_m
    if isinstance(radius, bool) or not isinstance(radius, int | float) or not radius > 0:
        raise DecodeError(f"missile_event body: error_radius_m must be > 0: {radius!r}")
    return (float(radius) ** 2, 0.0, float(radius) ** 2)


def _position(
    body: Mapping[str, Any], key: str, params: FusionParams, *, required: bool
) -> PositionEstimate | None:
    point = body.get(key)
    if point is None:
        if required:
            raise DecodeError(f"missile_event body: missing {key!r}")
        return None
    if not isinstance(point, Mapping):
        raise DecodeError(f"missile_event body: {key!r} must be an object with lat and lon")
    lat = _need_number(point, "lat")
    lon = _need_number(point, "lon")
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
        raise DecodeError(f"missile_event body: {key!r} out of range: lat {lat}, lon {lon}")
    stem = key.removesuffix("_point")
    covariance = _covariance(body, point, f"{stem}_covariance_m2", params.default_position_error_m)
    return PositionEstimate(lat, lon, covariance)


def report_from_body(
    body: Mapping[str, Any],
    *,
    ref: str,
    label: Label,
    source_nation: str | None = None,
    supersedes: str | None = None,
    params: FusionParams | None = None,
) -> MissileReport:
    """Read a ``missile_event`` body; *source_nation* defaults to the body's, then the label owner.

    Raises DecodeError naming the member at fault.
    """
    params = params or FusionParams()
    nation = body.get("source_nation") or source_nation or label.owner
    if not nation:
        raise DecodeError("missile_event body: no 'source_nation' and no label owner")
    sensor = body.get("source_sensor")
    if not isinstance(sensor, str) or not sensor:
        raise DecodeError("missile_event body: missing 'source_sensor'")
    launch = _position(body, "launch_point", params, required=True)
    if launch is None:  # unreachable: required
        raise DecodeError("missile_event body: missing 'launch_point'")
    launch_time = _need_time(body, "launch_time")
    impact = _position(body, "impact_point", params, required=False)
    impact_time = _time(body, "impact_time")
    time_error = _number(body, "launch_time_error_s") or params.default_time_error_s
    impact_error = _number(body, "impact_time_error_s")
    if impact_time is not None and impact_error is None:
        impact_error = params.default_time_error_s
    path = body.get("flight_path") or ()
    if not isinstance(path, list | tuple) or not all(isinstance(p, Mapping) for p in path):
        raise DecodeError("missile_event body: 'flight_path' must be a list of points")
    missile_type = body.get("missile_type")
    return MissileReport(
        ref=ref,
        label=label,
        source_nation=str(nation),
        source_sensor=sensor,
        launch_time=launch_time,
        launch_time_error_s=time_error,
        launch=launch,
        impact=impact,
        impact_time=impact_time,
        impact_time_error_s=impact_error,
        apogee_km=_number(body, "apogee_km"),
        flight_path=tuple(dict(p) for p in path),
        missile_type=str(missile_type) if missile_type else None,
        supersedes=supersedes,
    )


# --- fusion -------------------------------------------------------------------------------


def _to_plane(origin: tuple[float, float], lat: float, lon: float) -> np.ndarray:
    """(east, north) metres of (lat, lon) in the azimuthal equidistant plane of *origin*."""
    azimuth, _, distance = _GEOD.inv(origin[1], origin[0], lon, lat)
    angle = math.radians(azimuth)
    return np.array([distance * math.sin(angle), distance * math.cos(angle)])


def _from_plane(origin: tuple[float, float], xy: np.ndarray) -> tuple[float, float]:
    distance = float(math.hypot(xy[0], xy[1]))
    if distance == 0.0:
        return origin
    azimuth = math.degrees(math.atan2(xy[0], xy[1]))
    lon, lat, _ = _GEOD.fwd(origin[1], origin[0], azimuth, distance)
    return (float(lat), float(lon))


def _information(covariance: tuple[float, float, float]) -> np.ndarray:
    ee, en, nn = covariance
    return np.linalg.inv(np.array([[ee, en], [en, nn]]))


@dataclass(slots=True)
class _PositionSum:
    """Running information-form sum of positions in one plane."""

    origin: tuple[float, float]  # (lat, lon)
    information: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))
    vector: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def add(self, estimate: PositionEstimate, sign: float = 1.0) -> None:
        info = _information(estimate.covariance_m2)
        self.information = self.information + sign * info
        self.vector = self.vector + sign * info @ _to_plane(self.origin, estimate.lat, estimate.lon)

    def estimate(self) -> PositionEstimate:
        covariance = np.linalg.inv(self.information)
        lat, lon = _from_plane(self.origin, covariance @ self.vector)
        return PositionEstimate(
            lat, lon, (float(covariance[0, 0]), float(covariance[0, 1]), float(covariance[1, 1]))
        )


@dataclass(slots=True)
class _TimeSum:
    origin: datetime
    information: float = 0.0
    vector: float = 0.0

    def add(self, at: datetime, error_s: float, sign: float = 1.0) -> None:
        weight = 1.0 / (error_s * error_s)
        self.information += sign * weight
        self.vector += sign * weight * (at - self.origin).total_seconds()

    def estimate(self) -> tuple[datetime, float]:
        seconds = self.vector / self.information
        return self.origin + timedelta(seconds=seconds), math.sqrt(1.0 / self.information)


@dataclass(frozen=True, slots=True)
class FusedLaunch:
    """One launch as fused from its reports (each source's item id kept in ``reports``)."""

    launch_id: str  # the item id of the first report associated with it
    reports: tuple[MissileReport, ...]
    label: Label
    launch_time: datetime
    launch_time_error_s: float
    launch: PositionEstimate
    impact: PositionEstimate | None
    impact_time: datetime | None
    impact_time_error_s: float | None
    apogee_km: float | None
    flight_path: tuple[dict[str, float], ...]
    missile_type: str | None

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(report.ref for report in self.reports)

    @property
    def nations(self) -> tuple[str, ...]:
        return tuple(sorted({report.source_nation for report in self.reports}))


class _Launch:
    """Mutable accumulator behind one :class:`FusedLaunch`."""

    def __init__(self, first: MissileReport) -> None:
        self.launch_id = first.ref
        self.reports: dict[tuple[str, str], MissileReport] = {}
        origin = (first.launch.lat, first.launch.lon)
        self.launch_sum = _PositionSum(origin)
        self.impact_sum: _PositionSum | None = None
        self.launch_time_sum = _TimeSum(first.launch_time)
        self.impact_time_sum: _TimeSum | None = None
        self.fused: FusedLaunch | None = None

    def _apply(self, report: MissileReport, sign: float) -> None:
        self.launch_sum.add(report.launch, sign)
        self.launch_time_sum.add(report.launch_time, report.launch_time_error_s, sign)
        if report.impact is not None:
            if self.impact_sum is None:
                self.impact_sum = _PositionSum((report.impact.lat, report.impact.lon))
            self.impact_sum.add(report.impact, sign)
        if report.impact_time is not None and report.impact_time_error_s is not None:
            if self.impact_time_sum is None:
                self.impact_time_sum = _TimeSum(report.impact_time)
            self.impact_time_sum.add(report.impact_time, report.impact_time_error_s, sign)

    def add(self, report: MissileReport) -> FusedLaunch:
        previous = self.reports.get(report.source)
        if previous is not None:
            self._apply(previous, -1.0)
        self.reports[report.source] = report
        self._apply(report, 1.0)
        self.fused = self._summarise()
        return self.fused

    def _summarise(self) -> FusedLaunch:
        reports = tuple(self.reports.values())
        launch_time, launch_error = self.launch_time_sum.estimate()
        with_impact = [r for r in reports if r.impact is not None]
        impact = self.impact_sum.estimate() if self.impact_sum is not None and with_impact else None
        with_impact_time = [r for r in reports if r.impact_time is not None]
        impact_time: datetime | None = None
        impact_error: float | None = None
        if self.impact_time_sum is not None and with_impact_time:
            impact_time, impact_error = self.impact_time_sum.estimate()
        apogees = [r.apogee_km for r in reports if r.apogee_km is not None]
        with_path = [r for r in reports if r.flight_path]
        best_path = (
            min(with_path, key=lambda r: r.launch.error_radius_m).flight_path if with_path else ()
        )
        types = [r.missile_type for r in reports if r.missile_type]
        return FusedLaunch(
            launch_id=self.launch_id,
            reports=reports,
            label=roll_up(r.label for r in reports),
            launch_time=launch_time,
            launch_time_error_s=launch_error,
            launch=self.launch_sum.estimate(),
            impact=impact,
            impact_time=impact_time,
            impact_time_error_s=impact_error,
            apogee_km=sum(apogees) / len(apogees) if apogees else None,
            flight_path=best_path,
            missile_type=types[0] if types else None,
        )


def _distance_m(a: PositionEstimate, b: PositionEstimate) -> float:
    _, _, distance = _GEOD.inv(a.lon, a.lat, b.lon, b.lat)
    return float(distance)


class LaunchFuser:
    """Incremental association and fusion of missile reports into launches."""

    def __init__(self, params: FusionParams | None = None) -> None:
        self.params = params or FusionParams()
        self._launches: list[_Launch] = []  # every launch, in creation order
        self._active: list[_Launch] = []  # those a new report may still join
        self._by_ref: dict[str, _Launch] = {}
        self._latest: datetime | None = None

    @property
    def launches(self) -> tuple[FusedLaunch, ...]:
        """The fused launches so far, in launch-time order."""
        fused = [launch.fused for launch in self._launches if launch.fused is not None]
        return tuple(sorted(fused, key=lambda f: (f.launch_time, f.launch_id)))

    def add(self, report: MissileReport) -> FusedLaunch:
        """Associate *report* with a launch (or start one) and return the updated fusion."""
        if report.supersedes is not None and report.supersedes in self._by_ref:
            earlier = self._by_ref[report.supersedes]
            previous = earlier.reports.get(report.source)
            if previous is not None and previous.ref == report.supersedes:
                self._by_ref[report.ref] = earlier
                return earlier.add(report)
        launch = self._associate(report)
        if launch is None:
            launch = _Launch(report)
            self._launches.append(launch)
            self._active.append(launch)
        self._by_ref[report.ref] = launch
        fused = launch.add(report)
        self._close_old(report.launch_time)
        return fused

    def _close_old(self, at: datetime) -> None:
        """Stop offering launches older than the active window (by report time, not clock)."""
        if self._latest is None or at > self._latest:
            self._latest = at
        horizon = self._latest - timedelta(seconds=self.params.active_window_s)
        if self._active and self._active[0].launch_time_sum.origin < horizon:
            self._active = [
                launch
                for launch in self._active
                if launch.fused is None or launch.fused.launch_time >= horizon
            ]

    def _associate(self, report: MissileReport) -> _Launch | None:
        best: tuple[float, _Launch] | None = None
        p = self.params
        for launch in self._active:
            fused = launch.fused
            if fused is None or report.source in launch.reports:
                continue
            dt = abs((report.launch_time - fused.launch_time).total_seconds())
            time_gate = max(
                p.time_gate_s,
                p.sigma_gate * math.hypot(report.launch_time_error_s, fused.launch_time_error_s),
            )
            if dt > time_gate:
                continue
            distance = _distance_m(report.launch, fused.launch)
            distance_gate = max(
                p.distance_gate_km * 1000.0,
                p.sigma_gate
                * math.hypot(report.launch.error_radius_m, fused.launch.error_radius_m),
            )
            if distance > distance_gate:
                continue
            if report.impact is not None and fused.impact is not None:
                if _distance_m(report.impact, fused.impact) > p.impact_gate_km * 1000.0:
                    continue
            score = (dt / time_gate) ** 2 + (distance / distance_gate) ** 2
            if best is None or score < best[0]:
                best = (score, launch)
        return best[1] if best is not None else None


def fuse(
    reports: Iterable[MissileReport], params: FusionParams | None = None
) -> tuple[FusedLaunch, ...]:
    """Fuse a batch of reports (in the order given) into launches."""
    fuser = LaunchFuser(params)
    for report in reports:
        fuser.add(report)
    return fuser.launches


# --- warning items ------------------------------------------------------------------------


def impact_eez(
    fused: FusedLaunch, views: Iterable[str] = ("USA", "JPN", "KOR")
) -> dict[str, str | None] | None:
    """Whose EEZ holds the fused impact point under each view (None: no impact point yet).

    Raises ``UnknownViewError`` for a view the geodata does not know.
    """
    if fused.impact is None:
        return None
    return {view: eez_check(fused.impact.lat, fused.impact.lon, view).eez_of for view in views}


def warning_body(
    fused: FusedLaunch, *, eez: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """The ``missile_event`` body of the fused warning (topic ``dprk.missile.warning``).

    *eez* (view → nation whose EEZ holds the impact point under that view, or None) is added
    as ``impact_eez`` when given; compute it with :func:`impact_eez`.
    """
    launch_ee, launch_en, launch_nn = fused.launch.covariance_m2
    body: dict[str, Any] = {
        "launch_time": format_time(fused.launch_time),
        "launch_time_error_s": round(fused.launch_time_error_s, 3),
        "launch_point": fused.launch.as_dict(),
        "launch_covariance_m2": [round(launch_ee, 1), round(launch_en, 1), round(launch_nn, 1)],
        "source_sensor": "fused:"
        + ",".join(f"{n}/{s}" for n, s in sorted(report.source for report in fused.reports)),
        "sources": [
            {"ref": report.ref, "nation": report.source_nation, "sensor": report.source_sensor}
            for report in sorted(fused.reports, key=lambda r: (r.source, r.ref))
        ],
    }
    if len(fused.nations) == 1:
        body["source_nation"] = fused.nations[0]
    if fused.impact is not None:
        ee, en, nn = fused.impact.covariance_m2
        body["impact_point"] = fused.impact.as_dict()
        body["impact_covariance_m2"] = [round(ee, 1), round(en, 1), round(nn, 1)]
    if fused.impact_time is not None and fused.impact_time_error_s is not None:
        body["impact_time"] = format_time(fused.impact_time)
        body["impact_time_error_s"] = round(fused.impact_time_error_s, 3)
    if fused.apogee_km is not None:
        body["apogee_km"] = round(fused.apogee_km, 1)
    if fused.flight_path:
        body["flight_path"] = [dict(point) for point in fused.flight_path]
    if fused.missile_type:
        body["missile_type"] = fused.missile_type
    if eez is not None:
        body["impact_eez"] = dict(sorted(eez.items()))
    return body


@dataclass(frozen=True, slots=True)
class MissileWarning:
    """What a node seals as the fused warning item: kind, topics, label, refs and body."""

    body: Mapping[str, Any]
    label: Label
    refs: tuple[str, ...]
    kind: str = WARNING_KIND
    topics: tuple[str, ...] = (WARNING_TOPIC,)


def warning_item(
    fused: FusedLaunch, *, eez: Mapping[str, str | None] | None = None
) -> MissileWarning:
    """The fused warning ready to seal: roll-up label, the sources' item ids as refs."""
    return MissileWarning(body=warning_body(fused, eez=eez), label=fused.label, refs=fused.refs)
