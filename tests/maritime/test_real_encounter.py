"""The real 2015-03-19 transshipment off Mozambique (SPEC §7 expected values)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import shared_file
from trilat.analytics.maritime import analyze, parse_positions_csv
from trilat.analytics.maritime.stream import analyze_stream


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def real_positions():
    path = shared_file("ais/real-encounter-2015-03-19.csv")
    return parse_positions_csv(path.read_bytes())


def test_real_case_gives_exactly_one_encounter_matching_the_spec(real_positions) -> None:
    analysis = analyze(real_positions, detectors=("encounters",))
    events = analysis.events("encounters")
    assert len(events) == 1
    event = events[0]
    assert event["vessels"] == [441910000, 563418000]
    assert abs(_at(event["start"]) - _at("2015-03-19T07:40:00Z")) <= 600
    assert abs(_at(event["end"]) - _at("2015-03-19T20:10:00Z")) <= 600
    assert event["median_distance_km"] == pytest.approx(0.03, abs=0.01)
    assert event["median_speed_knots"] == pytest.approx(0.2, abs=0.1)
    assert event["lat"] == pytest.approx(-27.479, abs=0.01)
    assert event["lon"] == pytest.approx(38.534, abs=0.01)


def test_real_case_joint_silence_is_a_gap_but_not_disabling(real_positions) -> None:
    analysis = analyze(real_positions)
    gaps = analysis.events("gaps")
    assert {g["mmsi"] for g in gaps} == {441910000, 563418000}
    assert all(7.5 < g["hours"] < 8.5 for g in gaps)
    assert not any(g["possible_disabling"] for g in gaps)
    # the silence sits inside the single encounter rather than splitting it
    (encounter,) = analysis.encounters
    assert all(encounter.start <= g.start and g.end <= encounter.end for g in analysis.gaps)


def test_real_case_wild_position_is_dropped_and_counted(real_positions) -> None:
    analysis = analyze(real_positions)
    assert analysis.clean.duplicate == 19
    assert analysis.clean.speed_spike == 1
    assert analysis.clean.kept == analysis.clean.input - 19 - 1


def test_streaming_engine_agrees_with_batch_on_the_real_case(real_positions) -> None:
    batch = analyze(real_positions)
    stream = analyze_stream(sorted(real_positions.rows(), key=lambda r: r[1]))
    assert stream.events() == batch.events()
