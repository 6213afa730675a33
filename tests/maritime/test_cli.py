"""``trilat analyze encounters|loitering|gaps``: in process with CliRunner, and for real where
the exit code and the one-line error are what is tested."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyais.encode import encode_dict
from typer.testing import CliRunner

from trilat.analytics.maritime import analyze
from trilat.analytics.maritime.events import rfc3339
from trilat.analytics.sim import generate

TRILAT = [sys.executable, "-c", "from trilat.cli.app import main; main()"]


def _trilat(*args: str) -> subprocess.CompletedProcess[str]:
    command = [*TRILAT, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


class _Done:
    def __init__(self, result) -> None:
        self.returncode = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception


def _in_process(*args: str) -> _Done:
    from trilat.cli.app import app

    return _Done(CliRunner().invoke(app, list(args)))


@pytest.fixture(scope="module")
def small_traffic():
    return generate(vessels=24, days=1.5, seed=4, encounters=2, loiterers=1, dark_offshore=1)


@pytest.fixture(scope="module")
def traffic_csv(small_traffic, tmp_path_factory) -> Path:
    positions, _ = small_traffic
    path = tmp_path_factory.mktemp("cli") / "traffic.csv"
    lines = ["mmsi,timestamp_utc,lat,lon"]
    lines += [
        f"{m},{rfc3339(t).replace('.000Z', 'Z')},{la:.7f},{lo:.7f}"
        for m, t, la, lo in positions.rows()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_encounters_command_prints_the_api_events_and_a_summary(traffic_csv, tmp_path) -> None:
    plot = tmp_path / "pair.png"
    done = _in_process("analyze", "encounters", str(traffic_csv), "--json", "--plot", str(plot))
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)
    from trilat.analytics.maritime import parse_positions_csv

    expected = analyze(parse_positions_csv(traffic_csv.read_bytes())).events("encounters")
    assert events == expected
    assert len(events) == 2
    assert set(events[0]) == {
        "type", "vessels", "start", "end", "median_distance_km", "median_speed_knots", "lat", "lon"
    }  # fmt: skip
    summary = json.loads(done.stderr.strip().splitlines()[-1])["summary"]
    assert summary["input"]["kept"] == summary["csv"]["rows"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gaps_and_loitering_commands_agree_between_engines(traffic_csv) -> None:
    for command in ("gaps", "loitering"):
        batch = _in_process("analyze", command, str(traffic_csv))
        stream = _in_process("analyze", command, str(traffic_csv), "--stream")
        assert batch.returncode == stream.returncode == 0, batch.stderr + stream.stderr
        assert json.loads(batch.stdout) == json.loads(stream.stdout)
        assert json.loads(batch.stdout), f"{command}: nothing found"


def test_nmea_with_receiver_times_gives_the_same_encounters(
    small_traffic, traffic_csv, tmp_path
) -> None:
    positions, _ = small_traffic
    lines = []
    for m, t, la, lo in positions.rows():
        for sentence in encode_dict({"type": 1, "mmsi": m, "lat": la, "lon": lo}, talker_id="AI"):
            lines.append(f"{sentence},{t}")
    lines.insert(5, "!AIVDM,1,1,,A,13u?etPv2;0n:dDPwUM1U1Cb069D,0*FF,1700000000")  # bad checksum
    lines.insert(9, "!AIVDM,1,1,,A,13u?etPv2;0n:dDPwUM1U1Cb069D,0*24")  # no time
    nmea = tmp_path / "traffic.nmea"
    nmea.write_text("\n".join(lines) + "\n")
    from_nmea = _in_process("analyze", "encounters", str(nmea))
    from_csv = _in_process("analyze", "encounters", str(traffic_csv))
    assert from_nmea.returncode == 0, from_nmea.stderr
    pick = [(e["vessels"], e["start"], e["end"]) for e in json.loads(from_nmea.stdout)]
    assert pick == [(e["vessels"], e["start"], e["end"]) for e in json.loads(from_csv.stdout)]
    summary = json.loads(from_nmea.stderr.strip().splitlines()[-1])["summary"]
    assert summary["nmea"]["rejected"] == {"bad_checksum": 1}
    assert summary["nmea"]["positions_without_time"] == 1


def test_bad_input_exits_2_with_one_line_naming_it(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("mmsi,time,lat,lon\n412000001,2024-01-01T00:00:00Z,30,140\n")
    done = _trilat("analyze", "gaps", str(bad))
    assert done.returncode == 2
    assert "timestamp_utc" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    missing = _trilat("analyze", "loitering", str(tmp_path / "absent.csv"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr


def test_unparsable_rows_are_counted_not_fatal(tmp_path) -> None:
    rows = ["mmsi,timestamp_utc,lat,lon"]
    base = 1_700_000_000
    for i in range(40):
        rows.append(f"412000001,{rfc3339(base + 600 * i)},30.0,{146 + i * 1e-5:.5f}")
    rows.insert(3, "412000001,yesterday,30.0,146.0")
    rows.insert(7, "not,a,row")
    path = tmp_path / "dirty.csv"
    path.write_text("\n".join(rows) + "\n")
    done = _in_process("analyze", "loitering", str(path))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stderr.strip().splitlines()[-1])["summary"]
    assert summary["csv"]["unparsable"] == 2
    assert summary["input"]["kept"] == 40
    assert np.isclose(len(json.loads(done.stdout)), 1)
