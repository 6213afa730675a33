"""Each detector finds every planted event and (almost) nothing else; batch equals streaming."""

from __future__ import annotations

import numpy as np
import pytest

from trilat.analytics.maritime import analyze
from trilat.analytics.maritime.shore import FAR, NEAR
from trilat.analytics.maritime.stream import analyze_stream
from trilat.analytics.sim import PORTS, SITES, dirty, generate

TOLERANCE = 20 * 60  # detected start/end vs planted, seconds (two grid steps)


def _matches(found: tuple[int, int], planted: tuple[int, int]) -> bool:
    return abs(found[0] - planted[0]) <= TOLERANCE and abs(found[1] - planted[1]) <= TOLERANCE


def _recall_precision(found: list, planted: list, same) -> tuple[float, float]:
    hit_planted = sum(any(same(f, p) for f in found) for p in planted)
    true_found = sum(any(same(f, p) for p in planted) for f in found)
    recall = hit_planted / len(planted) if planted else 1.0
    precision = true_found / len(found) if found else 1.0
    return recall, precision


def test_planting_sites_are_far_offshore_and_ports_are_near_shore(shore) -> None:
    lat, lon = np.array(SITES).T
    for dlat, dlon in ((-0.4, -0.4), (-0.4, 0.4), (0.4, -0.4), (0.4, 0.4)):
        assert (shore.classify(lat + dlat, lon + dlon, 60 * 1.852) == FAR).all()
    lat, lon = np.array(list(PORTS.values())).T
    assert (shore.classify(lat, lon, 5.0) == NEAR).all()


@pytest.mark.parametrize("engine", ["batch", "stream"])
def test_every_planted_encounter_is_found_and_nothing_else(engine, traffic, request) -> None:
    _, truth = traffic
    analysis = request.getfixturevalue(f"{engine}_analysis")
    found = [(*e.vessels, e.start, e.end) for e in analysis.encounters]
    recall, precision = _recall_precision(
        found, truth.encounters, lambda f, p: f[:2] == p[:2] and _matches(f[2:], p[2:])
    )
    assert recall == 1.0
    assert precision >= 0.99
    # the port berths produce close pairs that the shore rule must reject
    assert analysis.encounter_stats.rejected_shore > 0


@pytest.mark.parametrize("engine", ["batch", "stream"])
def test_every_planted_loiterer_is_found_and_nothing_else(engine, traffic, request) -> None:
    _, truth = traffic
    analysis = request.getfixturevalue(f"{engine}_analysis")
    found = [(e.mmsi, e.start, e.end) for e in analysis.loitering]
    recall, precision = _recall_precision(
        found, truth.loitering, lambda f, p: f[0] == p[0] and _matches(f[1:], p[1:])
    )
    assert recall == 1.0
    assert precision >= 0.99


@pytest.mark.parametrize("engine", ["batch", "stream"])
def test_every_silence_is_a_gap_and_only_dark_ships_at_sea_are_disabling(
    engine, traffic, request
) -> None:
    _, truth = traffic
    analysis = request.getfixturevalue(f"{engine}_analysis")
    found = sorted((g.mmsi, g.start, g.end, g.possible_disabling) for g in analysis.gaps)
    assert found == sorted(truth.gaps)
    assert sum(g[3] for g in found) == sum(d[3] for d in truth.dark) > 0


def test_streaming_engine_emits_exactly_the_batch_events(batch_analysis, stream_analysis) -> None:
    assert stream_analysis.events() == batch_analysis.events()
    assert stream_analysis.clean.kept == batch_analysis.clean.kept
    assert stream_analysis.grid_positions == batch_analysis.grid_positions


def test_streaming_engine_hands_each_result_to_the_sink_once(stream_run, batch_analysis) -> None:
    _, handed = stream_run
    assert sorted(r.as_event()["start"] for r in handed) == sorted(
        e["start"] for e in batch_analysis.events()
    )
    assert len(handed) == len(batch_analysis.results())
    assert len({id(r) for r in handed}) == len(handed)


def test_dirty_input_is_cleaned_counted_and_detects_the_same(
    traffic, shore, batch_analysis
) -> None:
    positions, _ = traffic
    damaged, added = dirty(positions, seed=3, fraction=0.004)
    analysis = analyze(damaged, shore=shore)
    clean = analysis.clean
    assert clean.duplicate == added["duplicate"]
    assert clean.bad_mmsi == added["bad_mmsi"]
    assert clean.impossible_position == added["impossible_position"]
    assert clean.speed_spike == added["speed_spike"] > 0
    assert clean.out_of_order > 0
    assert clean.kept == len(positions)
    assert analysis.events() == batch_analysis.events()


def test_streaming_engine_counts_what_it_cannot_place(shore) -> None:
    rows = [
        (412000001, 1_700_000_000, 30.0, 146.0),
        (412000001, 1_700_000_600, 30.0, 146.01),
        (412000001, 1_700_000_600, 30.0, 146.01),  # duplicate
        (412000001, 1_700_009_000, 30.0, 146.02),
        (412000001, 1_700_000_300, 30.0, 146.0),  # far older than what was released: late
        (12345, 1_700_009_100, 30.0, 146.0),  # bad MMSI
        (412000001, 1_700_009_200, 95.0, 146.0),  # impossible
    ]
    analysis = analyze_stream(rows, shore=shore, reorder_seconds=60)
    clean = analysis.clean
    assert (clean.duplicate, clean.late, clean.bad_mmsi, clean.impossible_position) == (1, 1, 1, 1)
    assert clean.kept == 3


def test_generator_is_deterministic_by_seed() -> None:
    a, truth_a = generate(vessels=30, days=1.0, seed=5, encounters=1, loiterers=1, dark_offshore=1)
    b, truth_b = generate(vessels=30, days=1.0, seed=5, encounters=1, loiterers=1, dark_offshore=1)
    c, _ = generate(vessels=30, days=1.0, seed=6, encounters=1, loiterers=1, dark_offshore=1)
    assert np.array_equal(a.time, b.time)
    assert np.array_equal(a.lat, b.lat)
    assert truth_a == truth_b
    assert not np.array_equal(a.lat[:100], c.lat[:100])


def test_streaming_engine_can_hand_results_on_without_keeping_them(traffic, shore) -> None:
    from trilat.analytics.maritime.stream import StreamAnalyzer

    positions, truth = traffic
    handed = []
    engine = StreamAnalyzer(handed.append, shore=shore, keep_results=False)
    for row in positions.rows():
        engine.push(*row)
    analysis = engine.finish()
    assert analysis.results() == []
    assert sum(1 for r in handed if r.as_event()["type"] == "encounter") == len(truth.encounters)
