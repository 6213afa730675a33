"""AIS feeds into a real node: labelled track chains per MMSI, rate limit, static enrichment."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.ingest.conftest import STEP, IngestNode, nmea, position, static
from trilat.config import ConfigError
from trilat.ingest.settings import AisInput, IngestSettings, ingest_settings

from .conftest import label

T0 = 1_700_000_000.0
RADAR = "SECRET//REL TO USA, JPN, KOR"


def _tracks(node: IngestNode, uid: str, user: str = "admin") -> list[dict]:
    return [item for item in node.items(user, kind="track") if item["body"]["uid"] == uid]


def test_udp_reports_become_one_rate_limited_enriched_chain_per_vessel_with_the_feed_label(
    ingest_node: Callable[[IngestSettings], IngestNode],
) -> None:
    node = ingest_node(
        IngestSettings(
            ais=(
                AisInput("coastal", "udp", label(RADAR), ("maritime.track",), min_interval_s=60.0),
            ),
            maritime=False,
            airspace=False,
            missile=False,
        )
    )
    assert node.runner.ais is not None
    _, port = node.runner.ais.bound["coastal"]
    datagrams = [b"\n".join(static(440123000, T0 - 5, "HAN RIVER", "DSAB2", 9123456, 70))]
    for step in range(15):  # every 10 s for 140 s: stored at +0, +60 and +120 only
        datagrams.append(b"\n".join(position(440123000, T0 + 10 * step, 35.1, 129.2 + step / 1e3)))
    datagrams.append(b"\n".join(position(431000001, T0, 34.0, 131.0)))
    datagrams.append(b"\n".join(position(431000001, T0 + 30, 34.0, 131.01)))
    datagrams.append(b"!AIVDM,1,1,,A,13aG?P0P00PD;88MD5MTDww@2D7k,0*00")  # bad checksum
    datagrams.append(b"this is not NMEA")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for datagram in datagrams:
            sender.sendto(datagram, ("127.0.0.1", port))

    def health() -> dict | None:
        with httpx.Client(base_url=node.url, timeout=STEP) as client:
            document = client.get("/api/v1/health").json()
        counters = document["components"]["ingest"]["ais"]["coastal"]
        return counters if counters["stored"] == 4 and counters["bad_sentences"] >= 1 else None

    counters = node.wait_for(health, "four stored tracks and the bad sentences counted")
    assert counters["positions"] == 17
    assert counters["rate_limited"] == 13
    assert counters["static"] == 1
    chain = _tracks(node, "mmsi-440123000")
    assert [item["body"]["time"] for item in chain] == [
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:14:20.000Z",
        "2023-11-14T22:15:20.000Z",
    ]
    assert chain[0]["supersedes"] is None
    assert [item["supersedes"] for item in chain[1:]] == [chain[0]["id"], chain[1]["id"]]
    for item in chain:
        assert item["label"] == RADAR
        assert item["topics"] == ["maritime.track"]
        assert item["body"]["name"] == "HAN RIVER"
        assert item["body"]["callsign"] == "DSAB2"
        assert item["body"]["imo"] == 9123456
        assert item["body"]["ship_type"] == 70
        assert item["body"]["nation"] == "KOR"
    assert len(_tracks(node, "mmsi-431000001")) == 1
    # the feed's label decides who sees it: a JPN liaison yes, an uncleared US citizen no
    assert len(_tracks(node, "mmsi-440123000", "kenji")) == 3
    assert _tracks(node, "mmsi-440123000", "citizen") == []


def _serve_once(lines: list[bytes]) -> tuple[int, threading.Thread]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(STEP)

    def feed() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"\r\n".join(lines) + b"\r\n")

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_a_tcp_feed_and_a_file_are_read_into_tracks_and_every_report_kept_at_interval_zero(
    ingest_node: Callable[[IngestSettings], IngestNode], tmp_path: Path
) -> None:
    feed_lines = [line for step in range(5) for line in position(538001111, T0 + step, 1.0, 2.0)]
    tcp_port, feeder = _serve_once(feed_lines)
    archive = tmp_path / "archive.nmea"
    archive.write_bytes(
        b"\n".join(line for s in range(3) for line in position(563000222, T0 + 60 * s, 1.5, 103.8))
        + b"\n"
        + static(563000222, T0, "LONE HALF", "9V123", 9000001, 80)[0]  # its second part never comes
        + b"\n"
    )
    node = ingest_node(
        IngestSettings(
            ais=(
                AisInput(
                    "aggregator",
                    "tcp",
                    label("UNCLASSIFIED"),
                    ("maritime.track",),
                    port=tcp_port,
                    min_interval_s=0.0,
                ),
                AisInput(
                    "archive", "file", label("UNCLASSIFIED"), ("maritime.track",), path=archive
                ),
            ),
            maritime=False,
            airspace=False,
            missile=False,
        )
    )
    feeder.join(STEP)
    node.wait_for(
        lambda: (
            len(_tracks(node, "mmsi-538001111")) == 5 and len(_tracks(node, "mmsi-563000222")) == 3
        ),
        "every TCP report and the archive's three reports",
    )
    assert node.runner.ais is not None
    assert node.runner.ais.files_done.wait(STEP)
    health = node.runner.health()["ais"]
    assert health["aggregator"]["stored"] == 5
    assert health["aggregator"]["connections"] >= 1
    assert health["archive"]["stored"] == 3
    assert health["archive"]["rejected"] == {"incomplete_message": 1}


@pytest.mark.parametrize(
    ("table", "setting"),
    [
        (
            {"ais": [{"name": "a", "source": "udp", "address": "127.0.0.1:0"}]},
            "ingest.ais[0].label",
        ),
        (
            {
                "ais": [
                    {
                        "name": "a",
                        "source": "udp",
                        "address": "127.0.0.1:0",
                        "label": "SECRET//BOGUS",
                    }
                ]
            },
            "ingest.ais[0].label",
        ),
        (
            {"ais": [{"name": "a", "source": "pigeon", "label": "UNCLASSIFIED"}]},
            "ingest.ais[0].source",
        ),
        ({"colour": "blue"}, "ingest..colour"),
        (
            {"cot": [{"listen": "127.0.0.1:0", "label": "UNCLASSIFIED", "auth": "certificate"}]},
            "ingest.cot[0].auth",
        ),
        ({"min_interval_s": -1}, "ingest..min_interval_s"),
        (
            {"cot": [{"listen": "0.0.0.0:8087", "label": "UNCLASSIFIED", "auth": "token"}]},
            "ingest.cot[0].auth",
        ),
    ],
)
def test_a_bad_ingest_setting_is_refused_naming_the_key(table: dict, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ingest_settings(table, nation="USA", base=Path("/nonexistent"))
    assert caught.value.name == setting


def test_settings_read_inputs_with_their_labels_and_relative_paths_from_the_node_dir() -> None:
    settings = ingest_settings(
        {
            "min_interval_s": 30,
            "ais": [
                {"name": "radar", "source": "tcp", "address": "10.0.0.5:4001", "label": RADAR},
                {
                    "name": "old",
                    "source": "file",
                    "path": "feeds/old.nmea",
                    "label": "UNCLASSIFIED",
                },
            ],
        },
        nation="USA",
        base=Path("/srv/node"),
    )
    radar, old = settings.ais
    assert radar.label == label(RADAR)
    assert (radar.host, radar.port, radar.min_interval_s) == ("10.0.0.5", 4001, 30.0)
    assert old.path == Path("/srv/node/feeds/old.nmea")
    assert radar.topics == ("maritime.track",)
    assert nmea({"msg_type": 1, "mmsi": 1, "lat": 0.0, "lon": 0.0})  # the encoder is importable
