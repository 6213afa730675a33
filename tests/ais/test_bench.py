"""The AIS benchmark and the peer-harness adapter run, and count what pyais counts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pyais

from tests.ais.nmea import clean_stream
from trilat.adapters.ais import Decoder

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_runs_on_a_small_corpus(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_ais.py"),
            "--sentences",
            "1000",
            "--passes",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "ais-corpus-1000.nmea").exists()
    for row in ("position (1,2,3,18)", "the rest", "trilat batch (columns)", "trilat feed"):
        assert row in completed.stdout


def test_the_peer_adapters_count_the_messages_pyais_counts() -> None:
    adapter = _load("ais_peer_adapter")
    lines = clean_stream(5, 3000)  # interleaved fragments, some left open at the end
    expected = sum(1 for nmea in pyais.IterMessages(lines) if nmea.decode())
    reference = Decoder()
    list(reference.feed_all(lines))
    left_open = reference.pending
    assert left_open > 0
    for make in (adapter.make, adapter.make_stream):
        decoder = make()
        assert decoder.name.startswith("trilat")
        assert decoder.decode(lines) == expected
        assert decoder.to_dicts(lines) == expected
        assert decoder.errors == left_open  # the partial messages the flush counted
