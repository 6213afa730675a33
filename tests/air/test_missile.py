"""Missile-warning fusion: association gates, inverse-variance fusion, roll-up labels (SPEC §7)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyproj import Geod

from trilat.analytics.eez import eez_check
from trilat.analytics.geodata import features
from trilat.analytics.missile import (
    WARNING_TOPIC,
    FusionParams,
    LaunchFuser,
    MissileReport,
    fuse,
    impact_eez,
    report_from_body,
    warning_body,
    warning_item,
)
from trilat.core.errors import DecodeError
from trilat.core.labels import format_banner, parse_label, roll_up
from trilat.kinds import validate_body

GEOD = Geod(ellps="WGS84")
LAUNCH = datetime(2023, 2, 18, 8, 22, tzinfo=UTC)  # 17:22 KST, Hwasong-15 from Sunan
SUNAN = features()["pyongyang-sunan"]


def _impact() -> tuple[float, float]:
    oshima = features()["oshima-oshima"]
    lon, lat, _ = GEOD.fwd(oshima.lon, oshima.lat, 270.0, 200_000.0)
    return lat, lon


def _moved(lat: float, lon: float, azimuth: float, metres: float) -> tuple[float, float]:
    new_lon, new_lat, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return new_lat, new_lon


def _body(
    sensor: str,
    nation: str,
    *,
    seconds: float = 0.0,
    launch_error_m: float = 5_000.0,
    shift_m: float = 0.0,
    time_error_s: float = 10.0,
    impact: bool = True,
) -> dict[str, Any]:
    lat, lon = _moved(SUNAN.lat, SUNAN.lon, 90.0, shift_m)
    body: dict[str, Any] = {
        "launch_time": (LAUNCH + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
        "launch_time_error_s": time_error_s,
        "launch_point": {"lat": lat, "lon": lon, "error_radius_m": launch_error_m},
        "source_sensor": sensor,
        "source_nation": nation,
        "apogee_km": 5_700.0,
        "missile_type": "Hwasong-15",
    }
    if impact:
        impact_lat, impact_lon = _impact()
        body["impact_point"] = {"lat": impact_lat, "lon": impact_lon, "error_radius_m": 20_000.0}
        body["impact_time"] = (LAUNCH + timedelta(minutes=66)).isoformat().replace("+00:00", "Z")
    return body


LABELS = {
    "USA": parse_label("SECRET//REL TO USA, JPN, KOR", owner="USA"),
    "JPN": parse_label("SECRET//REL TO USA, JPN", owner="JPN"),
    "KOR": parse_label("CONFIDENTIAL//REL TO USA, KOR", owner="KOR"),
}


def _report(ref: str, nation: str, sensor: str, **kwargs: Any) -> MissileReport:
    return report_from_body(_body(sensor, nation, **kwargs), ref=ref, label=LABELS[nation])


def test_reports_of_three_nations_fuse_into_one_launch_keeping_each_source() -> None:
    reports = [
        _report("r-usa", "USA", "SBIRS", seconds=4),
        _report("r-jpn", "JPN", "FPS-5", seconds=-3, shift_m=2_000),
        _report("r-kor", "KOR", "Green Pine", seconds=1, shift_m=-1_000),
    ]
    (launch,) = fuse(reports)
    assert set(launch.refs) == {"r-usa", "r-jpn", "r-kor"}
    assert launch.nations == ("JPN", "KOR", "USA")
    body = warning_body(launch)
    assert {s["ref"] for s in body["sources"]} == {"r-usa", "r-jpn", "r-kor"}


def test_positions_and_times_are_weighted_by_inverse_variance() -> None:
    precise = _report("a", "USA", "SBIRS", seconds=0, launch_error_m=1_000.0, time_error_s=5.0)
    rough = _report(
        "b", "JPN", "FPS-5", seconds=10, launch_error_m=2_000.0, shift_m=5_000, time_error_s=10.0
    )
    (launch,) = fuse([precise, rough])
    # weights 1/1² : 1/2² = 4 : 1 → one fifth of the way (1 km east of the precise point)
    _, _, from_precise = GEOD.inv(SUNAN.lon, SUNAN.lat, launch.launch.lon, launch.launch.lat)
    assert from_precise == pytest.approx(1_000.0, abs=5.0)
    assert launch.launch.error_radius_m == pytest.approx(math.sqrt(1 / (1 + 1 / 4)) * 1_000.0)
    # time weights 1/25 : 1/100 → 2 s after the precise report
    assert (launch.launch_time - LAUNCH).total_seconds() == pytest.approx(2.0)
    assert launch.launch_time_error_s == pytest.approx(math.sqrt(1 / (1 / 25 + 1 / 100)))


def test_a_full_covariance_wins_over_the_error_radius() -> None:
    body = _body("SBIRS", "USA")
    body["launch_covariance_m2"] = [4.0e6, 0.0, 1.0e6]
    report = report_from_body(body, ref="c", label=LABELS["USA"])
    assert report.launch.covariance_m2 == (4.0e6, 0.0, 1.0e6)
    assert report.launch.error_radius_m == pytest.approx(2_000.0)


def test_fused_label_is_the_roll_up_of_the_sources_labels() -> None:
    reports = [_report("u", "USA", "SBIRS"), _report("j", "JPN", "FPS-5")]
    (launch,) = fuse(reports)
    assert launch.label == roll_up([LABELS["USA"], LABELS["JPN"]])
    assert format_banner(launch.label) == "SECRET//REL TO USA, JPN"
    assert warning_item(launch).label == launch.label
    (all_three,) = fuse([*reports, _report("k", "KOR", "Green Pine")])
    assert all_three.label.noforn  # USA-JPN ∩ USA-KOR leaves one nation: never less restrictive


def test_reports_outside_the_time_gate_are_separate_launches() -> None:
    first = _report("a", "USA", "SBIRS")
    later = _report("b", "JPN", "FPS-5", seconds=600)
    assert len(fuse([first, later])) == 2


def test_reports_outside_the_distance_gate_are_separate_launches() -> None:
    first = _report("a", "USA", "SBIRS")
    elsewhere = _report("b", "JPN", "FPS-5", shift_m=300_000)
    assert len(fuse([first, elsewhere])) == 2
    assert len(fuse([first, elsewhere], FusionParams(distance_gate_km=400.0))) == 1


def test_a_second_report_of_the_same_sensor_is_a_second_missile_of_a_salvo() -> None:
    first = _report("a", "KOR", "Green Pine")
    second = _report("b", "KOR", "Green Pine", seconds=30)
    assert len(fuse([first, second])) == 2


def test_a_superseding_report_replaces_the_earlier_one_of_its_sensor() -> None:
    fuser = LaunchFuser()
    fuser.add(_report("a", "USA", "SBIRS", launch_error_m=8_000.0))
    fuser.add(_report("j", "JPN", "FPS-5"))
    refined = report_from_body(
        _body("SBIRS", "USA", launch_error_m=1_000.0),
        ref="a2",
        label=LABELS["USA"],
        supersedes="a",
    )
    updated = fuser.add(refined)
    assert set(updated.refs) == {"a2", "j"}
    assert len(fuser.launches) == 1
    again = fuse([_report("j", "JPN", "FPS-5"), refined])[0]
    assert updated.launch.lat == pytest.approx(again.launch.lat, abs=1e-9)
    assert updated.launch.error_radius_m == pytest.approx(again.launch.error_radius_m)


def test_a_warning_body_exists_from_the_first_report_and_is_a_valid_missile_event() -> None:
    fuser = LaunchFuser()
    first = fuser.add(_report("u", "USA", "SBIRS", impact=False))
    body = warning_body(first)
    assert validate_body("missile_event", body) == body
    assert body["source_nation"] == "USA"
    assert "impact_point" not in body
    updated = fuser.add(_report("j", "JPN", "FPS-5"))
    body = warning_body(updated, eez={"JPN": "JPN"})
    assert validate_body("missile_event", body) == body
    assert "source_nation" not in body  # several nations: see "sources"
    assert body["impact_eez"] == {"JPN": "JPN"}
    assert warning_item(updated).topics == (WARNING_TOPIC,)
    assert warning_item(updated).kind == "missile_event"


def test_fused_impact_of_2023_02_18_lies_in_japans_eez_in_japans_view() -> None:
    (launch,) = fuse([_report("u", "USA", "SBIRS"), _report("j", "JPN", "FPS-5")])
    assert launch.impact is not None
    assert eez_check(launch.impact.lat, launch.impact.lon, "JPN").inside_eez
    assert impact_eez(launch) == {"USA": "JPN", "JPN": "JPN", "KOR": "JPN"}
    assert impact_eez(fuse([_report("k", "KOR", "Green Pine", impact=False)])[0]) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"launch_time": "yesterday"}, "'launch_time'"),
        ({"launch_point": {"lat": 39.2}}, "'lon'"),
        ({"launch_point": {"lat": 99.0, "lon": 125.0}}, "out of range"),
        ({"source_sensor": ""}, "'source_sensor'"),
        ({"launch_covariance_m2": [1.0, 5.0, 1.0]}, "positive definite"),
        ({"apogee_km": "high"}, "'apogee_km'"),
    ],
)
def test_malformed_reports_are_refused_naming_the_member(
    change: dict[str, Any], message: str
) -> None:
    body = {**_body("SBIRS", "USA"), **change}
    with pytest.raises(DecodeError, match=message):
        report_from_body(body, ref="x", label=LABELS["USA"])


def test_launches_older_than_the_active_window_take_no_new_reports() -> None:
    fuser = LaunchFuser(FusionParams(active_window_s=3_600.0))
    fuser.add(_report("early", "USA", "SBIRS"))
    fuser.add(_report("later", "USA", "SBIRS", seconds=7_200))
    late_report = fuser.add(_report("late", "JPN", "FPS-5", seconds=10))
    assert late_report.refs == ("late",)
    assert len(fuser.launches) == 3
