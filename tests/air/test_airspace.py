"""Airspace entries and exits, joint patrols and their input rules (SPEC §7, §9)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon, box

from tests.air import scenario_2019_07_23 as scenario
from trilat.analytics.airspace import (
    AirspaceParams,
    AirspaceReport,
    Fix,
    FlightNotice,
    JointPatrol,
    JointPatrolParams,
    ZoneEvent,
    analyze_airspace,
    clean_track,
    joint_patrols,
    parse_track_csv,
    zone_events,
)
from trilat.analytics.geodata import UnknownViewError, Zone, geodesic_buffer
from trilat.core.errors import DecodeError
from trilat.kinds import validate_body

GEOD = Geod(ellps="WGS84")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
TOLERANCE = timedelta(minutes=2)


def _zone_events(report: AirspaceReport) -> list[ZoneEvent]:
    return [event for event in report.events if isinstance(event, ZoneEvent)]


def _key(event: ZoneEvent) -> tuple[str, str, str]:
    prefix = event.track.rsplit("-", 1)[0]
    zone = "TS" if event.zone.startswith("TS-") else event.zone
    return (prefix, zone, event.type)


# --- the 2019-07-23 combined patrol --------------------------------------------------------


def test_scenario_csv_is_exactly_what_its_generator_writes() -> None:
    assert scenario.CSV_PATH.read_text(encoding="utf-8") == scenario.render_csv()


def test_scenario_aircraft_fly_at_plausible_speeds() -> None:
    for _track, _nation, _kind, _alt, _offset, waypoints in scenario.AIRCRAFT:
        for (c0, lat0, lon0), (c1, lat1, lon1) in itertools.pairwise(waypoints):
            _, _, metres = GEOD.inv(lon0, lat0, lon1, lat1)
            hours = (scenario.kst(c1) - scenario.kst(c0)).total_seconds() / 3600.0
            assert 250.0 <= metres / 1000.0 / hours <= 950.0, (c0, c1)


@pytest.mark.parametrize("view", ["KOR", "JPN"])
def test_every_kadiz_and_territorial_event_matches_the_published_timeline(
    view: str, kor_report: AirspaceReport, jpn_report: AirspaceReport
) -> None:
    report = kor_report if view == "KOR" else jpn_report
    checked = [e for e in _zone_events(report) if e.zone == "KADIZ" or e.zone.startswith("TS-")]
    assert checked
    for event in checked:
        key = _key(event)
        published = [scenario.kst(c) for c in scenario.TIMELINE.get(key, [])]
        near = any(abs(event.time - at) <= TOLERANCE for at in published)
        implied = scenario.IMPLIED.get(key)
        within = implied is not None and (
            scenario.kst(implied[0]) <= event.time <= scenario.kst(implied[1])
        )
        assert near or within, f"{event.track} {event.zone} {event.type} at {event.time}"


@pytest.mark.parametrize("view", ["KOR", "JPN"])
def test_every_published_crossing_is_detected_for_every_aircraft(
    view: str, kor_report: AirspaceReport, jpn_report: AirspaceReport
) -> None:
    report = kor_report if view == "KOR" else jpn_report
    events = _zone_events(report)
    tracks = {track for track, *_ in scenario.AIRCRAFT}
    for (prefix, zone, kind), clocks in scenario.TIMELINE.items():
        for track in (t for t in tracks if t.startswith(prefix)):
            for clock in clocks:
                at = scenario.kst(clock)
                assert any(
                    e.track == track
                    and _key(e) == (prefix, zone, kind)
                    and abs(e.time - at) <= TOLERANCE
                    for e in events
                ), f"{track} {zone} {kind} {clock} KST not detected"
    for (prefix, zone, kind), (earliest, latest) in scenario.IMPLIED.items():
        assert any(
            _key(e) == (prefix, zone, kind)
            and scenario.kst(earliest) <= e.time <= scenario.kst(latest)
            for e in events
        )


def test_dokdo_violation_is_korean_airspace_in_the_korean_view(kor_report: AirspaceReport) -> None:
    territorial = {
        e.zone: e.authority for e in _zone_events(kor_report) if e.zone.startswith("TS-")
    }
    assert territorial == {"TS-KOR": "KOR"}


def test_same_track_is_japanese_airspace_in_the_japanese_view(jpn_report: AirspaceReport) -> None:
    territorial = {
        e.zone: e.authority for e in _zone_events(jpn_report) if e.zone.startswith("TS-")
    }
    assert territorial == {"TS-JPN": "JPN"}
    a50 = [e for e in _zone_events(jpn_report) if e.zone == "TS-JPN"]
    assert [e.type for e in a50] == ["zone_entry", "zone_exit"] * 2
    assert {e.track for e in a50} == {"RUS-A50-1"}


def test_chinese_and_russian_bombers_form_one_joint_patrol(kor_report: AirspaceReport) -> None:
    patrols = [e for e in kor_report.events if isinstance(e, JointPatrol)]
    assert len(patrols) == 1
    patrol = patrols[0]
    assert patrol.tracks == ("CHN-H6K-1", "CHN-H6K-2", "RUS-TU95-1", "RUS-TU95-2")
    assert patrol.nations == ("CHN", "RUS")
    assert abs(patrol.start - scenario.kst(scenario.JOINT_PATROL_START)) <= TOLERANCE
    assert patrol.end >= scenario.kst("09:04")
    assert patrol.as_dict()["type"] == "joint_patrol"


def test_crossings_of_unpublished_adiz_edges_are_flagged_approximate(
    kor_report: AirspaceReport,
) -> None:
    lead = [e for e in _zone_events(kor_report) if e.track == "CHN-H6K-1"]
    west_edge_entry = lead[0]  # KADIZ at 124°E, a published edge
    assert (west_edge_entry.zone, west_edge_entry.approximate) == ("KADIZ", False)
    jadiz_south = next(e for e in lead if e.zone == "JADIZ")  # south of outer point (7)
    assert jadiz_south.lat < 33.0
    assert jadiz_south.approximate
    assert all(not e.approximate for e in _zone_events(kor_report) if e.zone.startswith("TS-"))


def test_event_json_has_the_spec_keys(kor_report: AirspaceReport) -> None:
    for document in kor_report.as_dicts():
        if document["type"] == "joint_patrol":
            assert {"type", "tracks", "start", "end"} <= set(document)
        else:
            assert {"type", "track", "zone", "authority", "time"} <= set(document)
            assert document["time"].endswith("Z")


def test_events_give_valid_zone_entry_item_bodies(kor_report: AirspaceReport) -> None:
    for event in _zone_events(kor_report):
        body = event.item_body()
        assert validate_body("zone_entry", body) == body


# --- crossing rules ----------------------------------------------------------------------


def _fix(track: str, minutes: float, lat: float, lon: float, nation: str | None = "CHN") -> Fix:
    return Fix(track, T0 + timedelta(minutes=minutes), lat, lon, nation=nation)


SQUARE = Zone("SQ", "KOR", "adiz", box(130.0, 37.0, 131.0, 38.0))


def test_crossing_time_is_interpolated_by_distance_along_the_geodesic() -> None:
    fixes = [_fix("A", 0, 36.5, 130.5), _fix("A", 10, 37.5, 130.9)]
    (event,) = zone_events(fixes, [SQUARE])
    _, _, total = GEOD.inv(130.5, 36.5, 130.9, 37.5)
    assert event.type == "zone_entry"
    assert event.lat == pytest.approx(37.0, abs=1e-5)  # within a metre
    _, _, part = GEOD.inv(130.5, 36.5, event.lon, event.lat)
    expected = T0 + timedelta(minutes=10) * (part / total)
    assert abs((event.time - expected).total_seconds()) < 0.5


def test_a_pass_through_a_small_zone_between_two_fixes_is_found() -> None:
    small = Zone("DOT", "JPN", "territorial", geodesic_buffer(Point(131.0, 37.0), 5_000.0))
    fixes = [_fix("A", 0, 37.0, 130.7), _fix("A", 4, 37.0, 131.3)]  # both fixes outside
    events = zone_events(fixes, [small])
    assert [e.type for e in events] == ["zone_entry", "zone_exit"]
    span = (events[1].time - events[0].time).total_seconds()
    _, _, chord = GEOD.inv(events[0].lon, events[0].lat, events[1].lon, events[1].lat)
    assert chord == pytest.approx(10_000.0, rel=0.01)
    assert span == pytest.approx(240.0 * chord / GEOD.inv(130.7, 37.0, 131.3, 37.0)[2], abs=1)


def test_flying_through_a_hole_exits_and_re_enters() -> None:
    ring = Polygon(
        [(130, 37), (132, 37), (132, 39), (130, 39)],
        holes=[[(130.8, 37.8), (131.2, 37.8), (131.2, 38.2), (130.8, 38.2)]],
    )
    fixes = [_fix("A", m, 38.0, 130.5 + 0.1 * m) for m in range(11)]  # 130.5 → 131.5 inside
    events = zone_events(fixes, [Zone("HOLE", "KOR", "adiz", ring)])
    assert [e.type for e in events] == ["zone_exit", "zone_entry"]
    assert [round(e.lon, 4) for e in events] == [130.8, 131.2]


def test_a_track_first_seen_inside_yields_no_entry() -> None:
    fixes = [_fix("A", 0, 37.5, 130.5), _fix("A", 5, 37.5, 131.5)]
    assert [e.type for e in zone_events(fixes, [SQUARE])] == ["zone_exit"]


def test_no_interpolation_across_a_long_gap() -> None:
    fixes = [_fix("A", 0, 36.5, 130.5), _fix("A", 40, 37.5, 130.5)]  # 40 min silence
    (event,) = zone_events(fixes, [SQUARE])
    assert event.after_gap
    assert event.time == T0 + timedelta(minutes=40)
    assert (event.lat, event.lon) == (37.5, 130.5)


def test_out_of_order_and_duplicate_fixes_are_sorted_and_counted() -> None:
    clean = [_fix("A", m, 36.6 + 0.1 * m, 130.5) for m in range(8)]
    messy = [clean[3], clean[0], clean[1], clean[1], clean[2], clean[5], clean[4], clean[6]]
    messy.append(_fix("A", 6, 10.0, 10.0))  # same time as clean[6], another place: a conflict
    messy.append(clean[7])
    kept, quality = clean_track(messy)
    assert kept == clean
    assert quality.duplicates == 1
    assert quality.conflicts == 1
    assert quality.out_of_order == 2
    assert zone_events(messy, [SQUARE]) == zone_events(clean, [SQUARE])


def test_antimeridian_crossing_follows_the_short_way_and_ignores_the_seam() -> None:
    seam_zone = MultiPolygon([box(179.0, 50.0, 180.0, 51.0), box(-180.0, 50.0, -179.0, 51.0)])
    fixes = [
        _fix("A", m, 50.5, lon) for m, lon in ((0, 178.5), (10, 179.5), (20, -179.5), (30, 181.5))
    ]
    events = zone_events(fixes, [Zone("SEAM", "USA", "adiz", seam_zone)])
    assert [e.type for e in events] == ["zone_entry", "zone_exit"]
    assert events[0].lon == pytest.approx(179.0, abs=1e-5)
    assert events[1].lon == pytest.approx(-179.0, abs=1e-5)


def test_a_notified_entry_is_still_reported_and_flagged() -> None:
    fixes = [_fix("A", 0, 36.5, 130.5), _fix("A", 10, 37.5, 130.5), _fix("A", 20, 38.5, 130.5)]
    notice = FlightNotice("CHN", "SQ", T0, T0 + timedelta(minutes=8))
    events = zone_events(fixes, [SQUARE], notices=[notice])
    assert [(e.type, e.notified) for e in events] == [("zone_entry", True), ("zone_exit", False)]


def test_a_single_fix_track_yields_no_event_and_no_error() -> None:
    report = analyze_airspace([_fix("A", 0, 37.5, 130.5)], view="KOR")
    assert report.events == ()
    assert report.quality[0].kept == 1


def test_parameters_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="crossing_tolerance_m"):
        AirspaceParams(crossing_tolerance_m=0.0)
    with pytest.raises(ValueError, match="step_s"):
        JointPatrolParams(step_s=0.0)


def test_unknown_view_is_refused() -> None:
    with pytest.raises(UnknownViewError, match="'ZZZ'"):
        analyze_airspace([_fix("A", 0, 37.0, 131.0)], view="ZZZ")


# --- joint patrols -----------------------------------------------------------------------


def _line(track: str, nation: str, lat: float, start_min: int, minutes: int) -> list[Fix]:
    return [
        _fix(track, m, lat, 130.0 + 0.1 * m, nation)
        for m in range(start_min, start_min + minutes + 1)
    ]


def test_two_nations_within_20_km_for_10_minutes_make_a_joint_patrol() -> None:
    fixes = _line("C1", "CHN", 37.0, 0, 30) + _line("R1", "RUS", 37.1, 5, 20)  # 11 km apart
    (patrol,) = joint_patrols(fixes)
    assert patrol.tracks == ("C1", "R1")
    assert patrol.start == T0 + timedelta(minutes=5)
    assert patrol.end == T0 + timedelta(minutes=25)


def test_shorter_or_farther_company_is_no_joint_patrol() -> None:
    short = _line("C1", "CHN", 37.0, 0, 30) + _line("R1", "RUS", 37.1, 5, 9)
    far = _line("C1", "CHN", 37.0, 0, 30) + _line("R1", "RUS", 37.3, 0, 30)  # 33 km apart
    same_nation = _line("C1", "CHN", 37.0, 0, 30) + _line("C2", "CHN", 37.05, 0, 30)
    assert joint_patrols(short) == []
    assert joint_patrols(far) == []
    assert joint_patrols(same_nation) == []


def test_overlapping_pairs_merge_into_one_group_with_same_nation_wingmen() -> None:
    fixes = (
        _line("C1", "CHN", 37.0, 0, 30)
        + _line("C2", "CHN", 37.02, 0, 30)
        + _line("R1", "RUS", 37.1, 10, 20)
        + _line("X1", "USA", 39.0, 0, 30)  # elsewhere
    )
    (patrol,) = joint_patrols(fixes)
    assert patrol.tracks == ("C1", "C2", "R1")
    assert patrol.nations == ("CHN", "RUS")


def test_joint_patrol_gates_are_parameters() -> None:
    fixes = _line("C1", "CHN", 37.0, 0, 30) + _line("R1", "RUS", 37.3, 0, 30)
    assert joint_patrols(fixes, JointPatrolParams(max_distance_km=40.0))


# --- input -------------------------------------------------------------------------------


def test_csv_reader_takes_optional_columns_in_any_order() -> None:
    text = "lon,lat,timestamp_utc,track,nation\n131.0,37.0,2019-07-23T00:00:00Z,A1,rus\n"
    (fix,) = parse_track_csv(text.splitlines())
    assert (fix.track, fix.lat, fix.lon, fix.nation) == ("A1", 37.0, 131.0, "RUS")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("track,timestamp_utc,lat\n", "header lacks column 'lon'"),
        ("track,timestamp_utc,lat,lon,speed\n", "unknown column 'speed'"),
        ("track,timestamp_utc,lat,lon\nA,2019-07-23T00:00:00Z,north,131\n", "line 2: column 'lat'"),
        (
            "track,timestamp_utc,lat,lon\nA,2019-07-23T00:00:00,37,131\n",
            "line 2: column 'timestamp_utc'",
        ),
        ("track,timestamp_utc,lat,lon\nA,2019-07-23T00:00:00Z,97,131\n", "out of range"),
        ("track,timestamp_utc,lat,lon\nA,2019-07-23T00:00:00Z,37\n", "line 2: 3 fields"),
        ("", "empty input"),
    ],
)
def test_bad_csv_is_refused_naming_line_and_column(text: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_track_csv(text.splitlines())


def _trilat(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "trilat"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        input=stdin,
    )


def test_cli_airspace_prints_the_json_list_for_the_chosen_view(tmp_path: Path) -> None:
    notices = tmp_path / "notices.json"
    notices.write_text(
        json.dumps(
            [
                {
                    "nation": "RUS",
                    "zone": "TS-JPN",
                    "start": "2019-07-22T23:00:00Z",
                    "end": "2019-07-23T01:00:00Z",
                }
            ]
        ),
        encoding="utf-8",
    )
    done = _trilat(
        "analyze",
        "airspace",
        str(scenario.CSV_PATH),
        "--view",
        "JPN",
        "--json",
        "--notices",
        str(notices),
    )
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)
    territorial = [e for e in events if e["type"] != "joint_patrol" and e["zone"].startswith("TS-")]
    assert {e["zone"] for e in territorial} == {"TS-JPN"}
    assert all(e["notified"] for e in territorial)
    assert sum(e["type"] == "joint_patrol" for e in events) == 1


def test_cli_airspace_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("track,timestamp_utc,lat,lon\nA,yesterday,37,131\n", encoding="utf-8")
    done = _trilat("analyze", "airspace", str(bad))
    assert done.returncode == 2
    assert "line 2" in done.stderr
    assert "Traceback" not in done.stderr
    missing = _trilat("analyze", "airspace", str(tmp_path / "absent.csv"))
    assert missing.returncode == 2
    view = _trilat(
        "analyze", "airspace", "-", "--view", "ATLANTIS", stdin="track,timestamp_utc,lat,lon\n"
    )
    assert view.returncode == 2
    assert "'ATLANTIS'" in view.stderr


def test_cli_airspace_notes_reordered_and_dropped_fixes_on_stderr() -> None:
    text = (
        "track,timestamp_utc,lat,lon,nation\n"
        "A,2019-07-23T00:10:00Z,36.9,131.0,CHN\n"
        "A,2019-07-23T00:00:00Z,36.0,131.0,CHN\n"
        "A,2019-07-23T00:00:00Z,36.0,131.0,CHN\n"
    )
    done = _trilat("analyze", "airspace", "-", stdin=text)
    assert done.returncode == 0, done.stderr
    assert "1 fixes out of order" in done.stderr
    assert "1 duplicate fixes" in done.stderr
    kadiz = [e["type"] for e in json.loads(done.stdout) if e["zone"] == "KADIZ"]
    assert kadiz == ["zone_entry"]


HOLED = Zone(
    "HOLED",
    "KOR",
    "adiz",
    Polygon(
        [(130, 37), (132, 37), (132, 39), (130, 39)],
        holes=[[(130.8, 37.8), (131.2, 37.8), (131.2, 38.2), (130.8, 38.2)]],
    ),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(36.5, 39.5), st.floats(129.5, 132.5)), min_size=2, max_size=12))
def test_entries_and_exits_alternate_and_agree_with_the_end_states(
    points: list[tuple[float, float]],
) -> None:
    fixes = [_fix("P", 3 * k, lat, lon) for k, (lat, lon) in enumerate(points)]
    events = zone_events(fixes, [HOLED])
    inside = [HOLED.geometry.covers(Point(lon, lat)) for lat, lon in points]
    kinds = [e.type for e in events]
    assert all(a != b for a, b in itertools.pairwise(kinds))
    if kinds:
        assert kinds[0] == ("zone_exit" if inside[0] else "zone_entry")
        assert kinds[-1] == ("zone_entry" if inside[-1] else "zone_exit")
    else:
        assert inside[0] == inside[-1]
    assert [e.time for e in events] == sorted(e.time for e in events)


def test_no_joint_patrol_is_inferred_across_a_reporting_gap() -> None:
    partner = _line("R1", "RUS", 37.1, 0, 30)
    silent = [f for f in _line("C1", "CHN", 37.0, 0, 30) if not 3 <= f.time.minute <= 27]
    assert joint_patrols(partner + silent) == []  # 24 min silence > 15 min: no positions
    assert joint_patrols(partner + silent, JointPatrolParams(max_gap_s=1_800.0))
