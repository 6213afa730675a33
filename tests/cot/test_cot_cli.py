"""``trilat cot serve`` and ``trilat cot decode`` as a user runs them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cot.conftest import position
from trilat.adapters.cot import decode_event
from trilat.cli.app import app
from trilat.cli.errors import run_guarded

TRILAT = [sys.executable, "-c", "from trilat.cli.app import main; main()"]


def read_event(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data or b"</event>" not in data[data.index(marker) :]:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("relay closed the connection")
        data += chunk
    start = data.rindex(b"<event", 0, data.index(marker))
    return data[start : data.index(b"</event>", start) + len(b"</event>")]


def test_cot_serve_relays_labelled_events_and_reports_its_counters() -> None:
    process = subprocess.Popen(
        [
            *TRILAT,
            "cot",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--node-nation",
            "USA",
            "--label",
            "CONFIDENTIAL//REL TO USA, KOR",
            "--clearance",
            "SECRET",
            "--duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as sender,
            socket.create_connection(("127.0.0.1", port), timeout=10) as receiver,
        ):
            receiver.sendall(position("receiver-sa", callsign="R"))
            read_event(sender, b'uid="receiver-sa"')  # both are admitted now
            sender.sendall(b"garbage" + position("cli-1", callsign="S"))
            event = decode_event(read_event(receiver, b'uid="cli-1"'))
        assert event.access == "CONFIDENTIAL//REL TO USA, KOR"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0
    stats = json.loads(stderr.strip().splitlines()[-1])["stats"]
    assert stats["accepted"] == 2
    assert stats["delivered"] == 2
    assert stats["garbage_bytes"] == len(b"garbage")


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--listen", "localhost", "--node-nation", "USA"], "'localhost'"),
        (["--listen", "127.0.0.1:0", "--node-nation", "XXA"], "'XXA'"),
        (["--listen", "127.0.0.1:0", "--node-nation", "USA", "--clearance", "COSMIC"], "'COSMIC'"),
        (
            ["--listen", "127.0.0.1:0", "--node-nation", "USA", "--label", "SECRET//REL TO JPX"],
            "'JPX'",
        ),
        (
            [
                "--listen",
                "127.0.0.1:0",
                "--node-nation",
                "USA",
                "--tls-cert",
                "c.pem",
                "--tls-key",
                "k.pem",
            ],
            "--tls-client-ca",
        ),
        (["--listen", "127.0.0.1:0", "--node-nation", "USA", "--relay-name", "a b"], "'a b'"),
    ],
    ids=["address", "nation", "clearance", "label", "tls-without-client-ca", "relay-name"],
)
def test_cot_serve_refuses_bad_input_with_exit_2_naming_the_token(
    arguments: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", ["trilat", "cot", "serve", *arguments])
    assert run_guarded(app) == 2  # the same entry point as the console script, in-process
    stderr = capsys.readouterr().err
    assert named in stderr
    assert "Traceback" not in stderr


def test_cot_decode_prints_one_json_object_per_event_and_counts_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "capture.cot"
    source.write_bytes(
        position("first", callsign="ONE", trilat="UNCLASSIFIED")
        + b"\n<event version='2.0'><detail>&bomb;</detail></event>\nnoise"
        + position("second", dest="ONE")
    )
    monkeypatch.setattr(sys, "argv", ["trilat", "cot", "decode", str(source)])
    assert run_guarded(app) == 0
    done = capsys.readouterr()
    records = [json.loads(line) for line in done.out.splitlines()]
    assert [(r["uid"], r["callsign"], r["label"], r["dest_callsigns"]) for r in records] == [
        ("first", "ONE", "UNCLASSIFIED", []),
        ("second", None, None, ["ONE"]),
    ]
    assert records[0]["lat"] == 35.0
    assert records[0]["stale"].endswith("Z")
    assert json.loads(done.err) == {"garbage_bytes": 5, "refused": {"malformed": 1}}
