"""Tracks that federation brings to a node reach that node's TAK users, each filtered by the
same view rule as the API: two real nodes (USA, JPN) served by ``trilat serve``, peered, and
pytak clients on the JPN node's CoT listener."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.cot.conftest import TakClient, run
from tests.federation.support import Server, free_port
from tests.ingest.conftest import track_item
from trilat.adapters.cot import decode_event
from trilat.cli.app import app


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _node(root: Path, nation: str, extra: str = "") -> tuple[Path, int, str]:
    directory, port = root / nation.lower(), free_port()
    _cli("init", str(directory), "--nation", nation, "--listen", f"127.0.0.1:{port}")
    if extra:
        with open(directory / "trilat.toml", "a", encoding="utf-8") as handle:
            handle.write(extra)
    return directory, port, (directory / "admin.token").read_text(encoding="ascii").strip()


def _user(directory: Path, name: str, nationality: str, clearance: str) -> str:
    output = _cli(
        "user", "add", str(directory), "--name", name, "--nationality", nationality,
        "--clearance", clearance, "--role", "operator", "--json",
    )  # fmt: skip
    return str(json.loads(output)["token"])


def _peer(holder: Path, other: Path, root: Path) -> None:
    card = root / f"card-{other.name}.json"
    card.write_text(_cli("peer", "export", str(other)), encoding="utf-8")
    _cli("peer", "add", str(holder), str(card))


def _auth(token: str) -> bytes:
    return f'<auth><cot username="tak" password="{token}" uid="tak"/></auth>'.encode()


def test_a_track_from_a_partner_node_reaches_only_the_tak_users_cleared_for_it(
    tmp_path: Path,
) -> None:
    cot_port = free_port()
    usa, usa_port, usa_admin = _node(tmp_path, "USA")
    jpn, jpn_port, _ = _node(
        tmp_path,
        "JPN",
        "\n[ingest]\nmaritime = false\nairspace = false\nmissile = false\n"
        f'[[ingest.cot]]\nname = "tak"\nlisten = "127.0.0.1:{cot_port}"\n'
        'label = "UNCLASSIFIED"\nauth = "token"\n',
    )
    secret = _user(jpn, "kenji", "JPN", "SECRET")
    confidential = _user(jpn, "taro", "JPN", "CONFIDENTIAL")
    _peer(usa, jpn, tmp_path)
    _peer(jpn, usa, tmp_path)
    servers = [Server(usa, usa_port), Server(jpn, jpn_port)]
    try:
        # "listening on" is printed once the node's CoT listener is up too
        socket.create_connection(("127.0.0.1", cot_port), timeout=5).close()

        async def scenario() -> None:
            kenji = await TakClient.open(f"tcp://127.0.0.1:{cot_port}")
            taro = await TakClient.open(f"tcp://127.0.0.1:{cot_port}")
            await kenji.send(_auth(secret))
            await taro.send(_auth(confidential))
            with httpx.Client(
                base_url=servers[0].url,
                headers={"Authorization": f"Bearer {usa_admin}"},
                timeout=30,
            ) as client:
                for uid, banner in (
                    ("us-noforn", "SECRET//NOFORN"),  # never leaves the USA node
                    ("us-rel-secret", "SECRET//REL TO USA, JPN"),
                    ("us-open", "UNCLASSIFIED"),
                ):
                    response = client.post(
                        "/api/v1/items", json=track_item(uid, banner, 37.24, 131.86)
                    )
                    assert response.status_code == 201, response.text
            to_kenji = [decode_event(e) for e in await kenji.receive_until(b'uid="us-open"')]
            to_taro = [decode_event(e) for e in await taro.receive_until(b'uid="us-open"')]
            assert [e.uid for e in to_kenji] == ["us-rel-secret", "us-open"]
            assert [e.uid for e in to_taro] == ["us-open"]  # not cleared for SECRET
            assert to_kenji[0].trilat_label == "SECRET//REL TO USA, JPN"
            assert to_kenji[0].access == "SECRET//REL TO USA, JPN"
            for tak in (kenji, taro):
                await tak.close()

        run(scenario(), timeout=90)
    finally:
        for server in servers:
            server.stop()
