"""``trilat serve`` starts the ingest of a node's ``[ingest]`` section and refuses a bad one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import serve_in_thread
from tests.ingest.conftest import STEP, position
from trilat.api.app import app_for

TRILAT = str(Path(sys.executable).with_name("trilat"))
T0 = 1_700_000_000


def _init(tmp_path: Path, ingest: str) -> Path:
    node_dir = tmp_path / "node"
    subprocess.run(
        [TRILAT, "init", str(node_dir), "--nation", "USA"], check=True, capture_output=True
    )
    with open(node_dir / "trilat.toml", "a", encoding="utf-8") as handle:
        handle.write(ingest)
    return node_dir


def _serve_and_feed(node_dir: Path, seconds: list[int], stored: int) -> list[dict[str, Any]]:
    """Serve the node, send reports at *seconds* to its UDP input, wait until *stored* tracks
    are counted, and return every track item; the server is stopped cleanly after."""
    app = app_for(node_dir)
    served = serve_in_thread(app)
    try:
        deadline = time.monotonic() + STEP
        while not served.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _, port = app.state.ingest.ais.bound["coastal"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for second in seconds:
                sender.sendto(
                    b"\n".join(position(440555000, T0 + second, 35.0, 129.0)),
                    ("127.0.0.1", port),
                )
        token = (node_dir / "admin.token").read_text(encoding="ascii").strip()
        with httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {token}"}, timeout=STEP
        ) as client:
            while True:
                health = client.get("/api/v1/health").json()
                if health["components"]["ingest"]["ais"]["coastal"]["stored"] == stored:
                    break
                assert time.monotonic() < deadline, health
                time.sleep(0.05)
            return client.get("/api/v1/items", params={"kind": "track"}).json()["items"]
    finally:
        served.server.should_exit = True
        served.thread.join(timeout=STEP)
        app.state.node.store.close()
        assert not served.thread.is_alive()


def test_an_ingest_section_starts_its_feeds_and_chains_go_on_across_a_restart(
    tmp_path: Path,
) -> None:
    node_dir = _init(
        tmp_path,
        "\n[ingest]\nmin_interval_s = 60\nmissile = false\nairspace = false\n\n"
        '[[ingest.ais]]\nname = "coastal"\nsource = "udp"\n'
        'address = "127.0.0.1:0"\nlabel = "CONFIDENTIAL//REL TO USA, KOR"\n',
    )
    first = _serve_and_feed(node_dir, [0, 60, 120], stored=3)
    assert [t["label"] for t in first] == ["CONFIDENTIAL//REL TO USA, KOR"] * 3
    assert [t["supersedes"] for t in first[1:]] == [first[0]["id"], first[1]["id"]]
    # after a clean restart: a report 30 s after the last stored one is rate-limited, the
    # next one continues the same chain
    second = _serve_and_feed(node_dir, [150, 180], stored=1)
    assert len(second) == 4
    assert second[-1]["body"]["time"] == "2023-11-14T22:16:20.000Z"
    assert second[-1]["supersedes"] == first[-1]["id"]


def test_serve_refuses_an_unlabelled_feed_with_one_line_naming_the_setting(
    tmp_path: Path,
) -> None:
    node_dir = _init(
        tmp_path,
        '\n[[ingest.ais]]\nname = "coastal"\nsource = "udp"\naddress = "127.0.0.1:0"\n',
    )
    done = subprocess.run(
        [TRILAT, "serve", str(node_dir), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ingest.ais[0].label" in lines[0]
    assert "Traceback" not in done.stderr
