"""The node's CoT server against pytak clients: the API's view rule decides every delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cot.conftest import TakClient, _issue, _name, _write, position, run, until
from tests.ingest.conftest import IngestNode, label, track_item
from trilat.adapters.cot import decode_event
from trilat.ingest.settings import CotInput, IngestSettings

LISTENER = "SECRET//REL TO USA, JPN, KOR"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server: tuple[Path, Path]
    users: dict[str, tuple[Path, Path]]


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    ca_key, ca_cert = _issue(
        "trilat test CA", ec.generate_private_key(ec.SECP256R1()), _name("x"), ca=True
    )
    ca, _ = _write(tmp_path / "ca", ca_key, ca_cert)
    server_key, server_cert = _issue("node", ca_key, ca_cert.subject, server=True)
    users = {}
    for name in ("analyst", "kenji", "stranger"):  # CN = trilat user name; stranger is none
        key, cert = _issue(name, ca_key, ca_cert.subject)
        users[name] = _write(tmp_path / name, key, cert)
    return Certificates(ca, _write(tmp_path / "server", server_key, server_cert), users)


@pytest.mark.filterwarnings("ignore:ssl.OP_NO_SSL:DeprecationWarning")  # pytak's TLS setup
def test_tak_clients_get_exactly_the_tracks_the_api_would_show_them(
    ingest_node: Callable[[IngestSettings], IngestNode], certificates: Certificates
) -> None:
    node = ingest_node(
        IngestSettings(
            cot=(
                CotInput(
                    "tak",
                    "127.0.0.1",
                    0,
                    label(LISTENER),
                    tls_cert=certificates.server[0],
                    tls_key=certificates.server[1],
                    tls_ca=certificates.ca,
                    auth="certificate",
                ),
            ),
            maritime=False,
            airspace=False,
            missile=False,
        )
    )
    bridge = node.runner.cot
    assert bridge is not None
    port = bridge.bound["tak"][1]

    async def client(name: str) -> TakClient:
        cert, key = certificates.users[name]
        return await TakClient.open(
            f"tls://127.0.0.1:{port}",
            PYTAK_TLS_CLIENT_CERT=str(cert),
            PYTAK_TLS_CLIENT_KEY=str(key),
            PYTAK_TLS_CLIENT_CAFILE=str(certificates.ca),
        )

    async def scenario() -> None:
        analyst = await client("analyst")  # USA, SECRET
        kenji = await client("kenji")  # JPN liaison, SECRET
        stranger = await client("stranger")  # a valid certificate, but no such user
        await until(lambda: len(bridge.server.clients) == 2, "two admitted clients")
        await asyncio.sleep(0)
        for uid, banner in (("noforn-1", "SECRET//NOFORN"), ("rel-1", "SECRET//REL TO USA, JPN")):
            await asyncio.to_thread(node.post, "analyst", **track_item(uid, banner))
        to_analyst = [decode_event(e) for e in await analyst.receive_until(b'uid="rel-1"')]
        to_kenji = [decode_event(e) for e in await kenji.receive_until(b'uid="rel-1"')]
        assert [e.uid for e in to_analyst] == ["noforn-1", "rel-1"]
        assert [e.uid for e in to_kenji] == ["rel-1"]
        assert to_kenji[0].trilat_label == "SECRET//REL TO USA, JPN"
        assert to_kenji[0].callsign == "REL-1"

        # inbound: the cleared national's event is relayed and stored; the liaison's relayed only
        await analyst.send(position("tak-alpha", callsign="ALPHA", cot_type="a-f-S-X"))
        got = await kenji.receive_until(b'uid="tak-alpha"')
        assert decode_event(got[-1]).trilat_label == LISTENER
        await kenji.send(position("tak-kenji", callsign="KENJI"))
        await analyst.receive_until(b'uid="tak-kenji"')
        for tak in (analyst, kenji, stranger):
            await tak.close()

    run(scenario(), timeout=60)

    stored = node.wait_for(
        lambda: [i for i in node.items("admin", kind="track") if i["body"]["uid"] == "tak-alpha"],
        "the analyst's CoT event stored as a track item",
    )
    assert stored[0]["label"] == LISTENER
    assert stored[0]["topics"] == ["maritime.track"]
    assert stored[0]["body"]["callsign"] == "ALPHA"
    assert not [i for i in node.items("admin", kind="track") if i["body"]["uid"] == "tak-kenji"]
    health = bridge.health()
    assert health["listening"] == {"tak": f"127.0.0.1:{port}"}
    assert health["not_stored"] >= 1
    assert health["unauthenticated"] >= 1
    assert health["stored"] >= 1
