"""``trilat ais decode FILE|-`` (SPEC §9): JSON lines with pyais's names, a summary on stderr."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tests.ais.nmea import messy_stream, pyais_fields, split_sentences, with_type
from tests.ais.test_decode import REAL
from trilat.cli.app import app

runner = CliRunner()
TRILAT = Path(sys.executable).with_name("trilat")
TYPE1 = REAL["type 1, class A position"][0][0]
TYPE5 = REAL["type 5, static and voyage, two sentences"][0]
BAD_CHECKSUM = TYPE1[:-1] + "D"


def _write(tmp_path: Path, lines: list[str], name: str = "feed.nmea") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_decode_prints_one_json_object_per_message(tmp_path: Path) -> None:
    path = _write(tmp_path, [TYPE1, *TYPE5, BAD_CHECKSUM])
    result = runner.invoke(app, ["ais", "decode", str(path)])
    assert result.exit_code == 0
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert objects == [pyais_fields(TYPE1), pyais_fields(*TYPE5)]
    assert {"msg_type", "mmsi", "lat", "lon", "speed", "course", "heading", "status"} <= set(
        objects[0]
    )
    assert {"shipname", "callsign", "imo", "destination", "draught", "ship_type"} <= set(objects[1])
    assert result.stderr.strip() == "feed.nmea: 4 sentences, 2 messages, 1 bad checksum"


def test_decode_with_json_prints_the_summary_as_json(tmp_path: Path) -> None:
    path = _write(tmp_path, [TYPE1, BAD_CHECKSUM, TYPE5[1]])
    result = runner.invoke(app, ["ais", "decode", str(path), "--json"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1
    assert json.loads(result.stderr) == {
        "source": "feed.nmea",
        "sentences": 3,
        "messages": 1,
        "rejected": {"bad_checksum": 1, "orphan_fragment": 1},
    }


def test_decode_reads_gzip_files(tmp_path: Path) -> None:
    path = tmp_path / "feed.nmea.gz"
    path.write_bytes(gzip.compress(f"{TYPE1}\n".encode()))
    result = runner.invoke(app, ["ais", "decode", str(path)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == pyais_fields(TYPE1)


def test_decode_reads_standard_input() -> None:
    result = runner.invoke(app, ["ais", "decode", "-"], input="\n".join([TYPE1, *TYPE5]) + "\n")
    assert result.exit_code == 0
    assert [json.loads(line)["msg_type"] for line in result.stdout.splitlines()] == [1, 5]
    assert result.stderr.startswith("stdin: 3 sentences, 2 messages")


def test_decode_of_a_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.nmea"
    result = runner.invoke(app, ["ais", "decode", str(missing)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"cannot read {missing}" in result.stderr
    assert "Traceback" not in result.stderr


def test_decode_of_a_truncated_gzip_file_exits_2_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cut.nmea.gz"
    packed = gzip.compress(b"\n".join(messy_stream(3, 2000)))
    path.write_bytes(packed[: len(packed) // 2])
    result = runner.invoke(app, ["ais", "decode", str(path)])
    assert result.exit_code == 2
    assert f"cannot read {path}" in result.stderr


def test_the_installed_command_streams_a_pipe() -> None:
    lines = [TYPE1]
    for index in range(200):
        lines += split_sentences(with_type(5, 424, index << 386), 424, sequence=str(index % 10))
    completed = subprocess.run(
        [str(TRILAT), "ais", "decode", "-"],
        input="\n".join(lines).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0
    decoded = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [d["mmsi"] for d in decoded[1:]] == list(range(200))
    assert b"401 sentences, 201 messages" in completed.stderr
