"""Historical replay of the CNS DPRK missile-test database (skips without ../shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_file
from trilat.analytics.missile_tests import (
    SOURCE,
    TOPIC,
    observations_from_cns,
    summarize,
)
from trilat.core.errors import DecodeError
from trilat.core.labels import Classification
from trilat.kinds import validate_body


def _database() -> tuple[Any, Any, Any]:
    tests = json.loads(shared_file("missiles/test.en.json").read_text(encoding="utf-8"))
    missiles = json.loads(shared_file("missiles/missile.en.json").read_text(encoding="utf-8"))
    sites = json.loads(shared_file("missiles/facility.en.json").read_text(encoding="utf-8"))
    return tests, missiles, sites


def test_every_test_becomes_one_valid_unclassified_observation() -> None:
    tests, missiles, sites = _database()
    observations = observations_from_cns(tests, missiles, sites)
    assert len(observations) == sum(len(b["data"]) for b in tests["timeBins"])
    for observation in observations:
        assert observation.kind == "observation"
        assert observation.topics == (TOPIC,)
        assert observation.label.classification is Classification.UNCLASSIFIED
        assert validate_body("observation", observation.body) == observation.body
        assert observation.body["sensor"] == SOURCE


def test_a_known_test_keeps_its_facts() -> None:
    tests, missiles, sites = _database()
    observations = observations_from_cns(tests, missiles, sites)
    # 2017-11-28 (UTC 2017-11-28 18:17): the Hwasong-15 ICBM from Pyongyang Sunan
    (hwasong_15,) = [
        o
        for o in observations
        if o.body["attributes"]["missile"] == "hwasong-15"
        and o.body["observed"].startswith("2017-11-28")
    ]
    attributes = hwasong_15.body["attributes"]
    assert attributes["missile_type"] == "ICBM"
    assert attributes["landing"] == "sea-of-japan"
    assert attributes["time_precision"] == "minute"
    assert attributes["apogee_km"] is not None
    assert attributes["apogee_km"] > 4000


def test_month_only_dates_and_unknown_values_are_kept_honest() -> None:
    tests, missiles, sites = _database()
    observations = observations_from_cns(tests, missiles, sites)
    month_only = [o for o in observations if o.body["attributes"]["time_precision"] == "month"]
    assert month_only
    assert all(o.body["observed"][8:] == "01T00:00:00Z" for o in month_only)
    assert all(
        o.body["attributes"]["apogee_km"] is None or o.body["attributes"]["apogee_km"] > 0
        for o in observations
    )


def test_summary_counts_per_year_and_type_add_up() -> None:
    observations = observations_from_cns(*_database())
    summary = summarize(observations)
    assert summary.total() == len(observations)
    assert sum(summary.total(year=y) for y in summary.years) == summary.total()
    assert summary.total(year=2017, missile_type="ICBM") >= 3  # Hwasong-14 ×2, Hwasong-15
    document = summary.as_dict()
    assert document["total"] == len(observations)
    assert sum(document["types"].values()) == len(observations)


def test_a_malformed_record_is_refused_naming_its_place() -> None:
    tests = {"timeBins": [{"year": 2020, "data": [{"date": "2020-13", "time": "x"}]}]}
    with pytest.raises(DecodeError, match="year 2020 record 0"):
        observations_from_cns(tests, {}, {"facilities": {}})
    bad_time = {"timeBins": [{"year": 2020, "data": [{"date": "2020-03-02", "time": "7pm"}]}]}
    with pytest.raises(DecodeError, match="'time'"):
        observations_from_cns(bad_time, {}, {"facilities": {}})


def _trilat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "trilat"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_cli_summary_prints_json_and_writes_the_chart(tmp_path: Path, suffix: str) -> None:
    folder = shared_file("missiles/test.en.json").parent
    chart = tmp_path / f"tests{suffix}"
    done = _trilat(
        "analyze", "missiles", "--data", str(folder), "--summary", "--json", "--chart", str(chart)
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["total"] == sum(document["types"].values())
    head = chart.read_bytes()[:64]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in chart.read_bytes()[:800]


def test_cli_summary_table_lists_every_year(tmp_path: Path) -> None:
    folder = shared_file("missiles/test.en.json").parent
    done = _trilat("analyze", "missiles", "--data", str(folder), "--summary")
    assert done.returncode == 0, done.stderr
    assert "2017" in done.stdout
    assert "ICBM" in done.stdout


def test_cli_refuses_an_unknown_chart_format_and_a_missing_folder(tmp_path: Path) -> None:
    done = _trilat("analyze", "missiles", "--summary", "--chart", str(tmp_path / "c.gif"))
    assert done.returncode == 2
    assert "'.gif'" in done.stderr
    done = _trilat("analyze", "missiles", "--data", str(tmp_path / "none"), "--summary")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
