"""``trilat serve`` starts the ingest of a node's ``[ingest]`` section and refuses a bad one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import serve_in_thread
from tests.ingest.conftest import STEP, position
from trilat.api.app import app_for

TRILAT = str(Path(sys.executable).with_name("trilat"))


def _init(tmp_path: Path, ingest: str) -> Path:
    node_dir = tmp_path / "node"
    subprocess.run(
        [TRILAT, "init", str(node_dir), "--nation", "USA"], check=True, capture_output=True
    )
    with open(node_dir / "trilat.toml", "a", encoding="utf-8") as handle:
        handle.write(ingest)
    return node_dir


def test_an_ingest_section_starts_its_feeds_with_the_served_node(tmp_path: Path) -> None:
    node_dir = _init(
        tmp_path,
        "\n[ingest]\nmin_interval_s = 0\nmissile = false\nairspace = false\n\n"
        '[[ingest.ais]]\nname = "coastal"\nsource = "udp"\n'
        'address = "127.0.0.1:0"\nlabel = "CONFIDENTIAL//REL TO USA, KOR"\n',
    )
    app = app_for(node_dir)
    served = serve_in_thread(app)
    try:
        deadline = time.monotonic() + STEP
        while not served.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _, port = app.state.ingest.ais.bound["coastal"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for step in range(3):
                sender.sendto(
                    b"\n".join(position(440555000, 1_700_000_000 + step, 35.0, 129.0)),
                    ("127.0.0.1", port),
                )
        token = (node_dir / "admin.token").read_text(encoding="ascii").strip()
        with httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {token}"}, timeout=STEP
        ) as client:
            while True:
                health = client.get("/api/v1/health").json()
                if health["components"]["ingest"]["ais"]["coastal"]["stored"] == 3:
                    break
                assert time.monotonic() < deadline, health
                time.sleep(0.05)
            tracks = client.get("/api/v1/items", params={"kind": "track"}).json()["items"]
        assert [t["label"] for t in tracks] == ["CONFIDENTIAL//REL TO USA, KOR"] * 3
        assert [t["supersedes"] for t in tracks[1:]] == [tracks[0]["id"], tracks[1]["id"]]
    finally:
        served.server.should_exit = True
        served.thread.join(timeout=STEP)
        app.state.node.store.close()
    assert not served.thread.is_alive()


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
