"""Federation over TLS with the peer's key pinned by its card (SPEC §6).

Real certificates are made here; servers are real (``trilat serve`` over HTTPS, or a raw TLS
listener on 127.0.0.1 port 0 that records every byte a client sends after the handshake).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.federation.support import Server, free_port, inventory, wait_for
from tests.federation.test_transport import originate
from trilat.agreement_files import load_policy
from trilat.api.app import read_private_key
from trilat.cli.node import init, write_tls_certificate
from trilat.cli.peer import add
from trilat.config import load_settings
from trilat.core._crypto import generate_private_key, public_key_of
from trilat.core.errors import PeerError
from trilat.federation.cards import card_document, key_id_of, make_card
from trilat.federation.service import Federation
from trilat.federation.transport import (
    HttpTransport,
    Outbound,
    TlsRefused,
    certificate_pin,
    pinned_context,
    refusal,
)
from trilat.store import Store, open_store
from trilat.store.federation import FederationTables, PeerRow

ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def certificate(directory: Path) -> tuple[Path, Path, str]:
    """A fresh self-signed certificate for 127.0.0.1: (cert, key, SPKI pin)."""
    directory.mkdir(parents=True)
    write_tls_certificate(directory, "127.0.0.1", datetime.now(UTC))
    cert = directory / "tls.crt"
    return cert, directory / "tls.key", certificate_pin(cert)


class TlsListener:
    """A TLS server on 127.0.0.1 port 0 presenting *cert*; it keeps every byte clients send
    after the handshake and answers 204 to a complete request."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.url = f"https://127.0.0.1:{self.port}"
        self.received = bytearray()
        self.connections = 0
        self.finished = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._serve(connection)

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        with self._lock:
            self.connections += 1
        try:
            with self.context.wrap_socket(connection, server_side=True) as tls:
                request = bytearray()
                for _ in range(1000):  # bounded: 1000 reads at most
                    data = tls.recv(65536)
                    if not data:
                        break
                    request += data
                    with self._lock:
                        self.received += data
                    if _complete(bytes(request)):
                        tls.sendall(ANSWER)
                        break
        except (OSError, ssl.SSLError):
            connection.close()
        finally:
            with self._lock:
                self.finished += 1

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(5)


def _complete(request: bytes) -> bool:
    """Whether *request* holds a whole request head and its Content-Length body."""
    head, found, body = request.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return len(body) >= (int(length.group(1)) if length else 0)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[TlsListener, str]]:
    cert, key, pin = certificate(tmp_path / "served")
    served = TlsListener(cert, key)
    yield served, pin
    served.close()


def get(transport: HttpTransport, url: str) -> int:
    try:
        return transport.request("POST", url, headers={"x-test": "1"}, body=b"{}", timeout=5).status
    finally:
        transport.close()


def test_a_pinned_key_is_reached_and_another_key_is_refused_before_any_byte(
    listener: tuple[TlsListener, str], tmp_path: Path
) -> None:
    served, pin = listener
    assert get(HttpTransport(pin=pin), served.url + "/push") == 204
    assert served.received.startswith(b"POST /push HTTP/1.1")
    served.received.clear()
    _, _, other_pin = certificate(tmp_path / "other")
    with pytest.raises(TlsRefused, match="TLS pin mismatch"):
        get(HttpTransport(pin=other_pin), served.url + "/push")
    assert wait_for(lambda: served.finished >= 2, timeout=10)
    assert served.connections == 2  # the refused client connected, then sent no HTTP
    assert served.received == b""


def test_https_without_a_pin_needs_a_ca_bundle_and_the_bundle_verifies(
    listener: tuple[TlsListener, str], tmp_path: Path
) -> None:
    served, _ = listener
    with pytest.raises(TlsRefused, match="no tls_sha256 pin"):
        get(HttpTransport(), served.url + "/push")
    assert served.connections == 0  # refused before connecting
    other_cert, _, _ = certificate(tmp_path / "other")
    with pytest.raises(TlsRefused, match="certificate refused"):
        get(HttpTransport(outbound=Outbound(ca_bundle=other_cert)), served.url + "/push")
    trusted = tmp_path / "served" / "tls.crt"
    assert get(HttpTransport(outbound=Outbound(ca_bundle=trusted)), served.url + "/push") == 204
    assert served.received.startswith(b"POST /push")


def test_plain_http_is_for_loopback_unless_the_operator_allows_it() -> None:
    pin = "ab" * 32
    assert refusal("http://127.0.0.1:8700", None, Outbound()) is None
    assert refusal("http://[::1]:8700", None, Outbound()) is None
    assert refusal("http://localhost:8700", None, Outbound()) is None
    assert "non-loopback" in str(refusal("http://10.0.0.7:8700", None, Outbound()))
    assert "non-loopback" in str(refusal("http://jpn.example:8700", None, Outbound()))
    assert refusal("http://10.0.0.7:8700", None, Outbound(allow_plain_http=True)) is None
    assert "plain http" in str(refusal("http://127.0.0.1:8700", pin, Outbound()))
    assert refusal("https://jpn.example:8700", pin, Outbound()) is None
    with pytest.raises(TlsRefused, match="non-loopback"):
        get(HttpTransport(), "http://192.0.2.1:9/push")  # TEST-NET: never connected to
    with pytest.raises(ValueError, match="64 lower-case hex"):
        pinned_context("AB" * 32)


def pin_usa(store: Store, url: str, pin: str, usa_key: bytes) -> None:
    """Pin USA's card (with TLS pin *pin*) on *store*, as a link peer at *url*."""
    document = card_document(
        make_card(
            nation="USA",
            node="usa-1",
            url=url,
            private_key=usa_key,
            issued=datetime.now(UTC),
            tls_sha256=pin,
        )
    )
    FederationTables(store).put_peer(
        PeerRow(
            "usa-1",
            "USA",
            url,
            str(document["public_key"]),
            key_id_of(public_key_of(usa_key)),
            json.dumps(document),
            True,
        )
    )


@pytest.fixture
def jpn(tmp_path: Path) -> Iterator[tuple[Store, bytes]]:
    """JPN's store holding three items it may release to USA, and JPN's key."""
    key = generate_private_key()
    store = open_store(f"sqlite:///{tmp_path / 'jpn.sqlite3'}")
    originate(store, key, 3, "SECRET//REL TO USA, JPN, KOR")
    yield store, key
    store.close()


def test_a_link_to_a_peer_with_another_key_sends_nothing_and_counts_the_refusal(
    listener: tuple[TlsListener, str],
    jpn: tuple[Store, bytes],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    served, _ = listener
    store, jpn_key = jpn
    _, _, usa_pin = certificate(tmp_path / "usa")  # the key USA really has; not the one served
    pin_usa(store, served.url, usa_pin, generate_private_key())
    sender = Federation(
        store=store, policy=load_policy(), nation="JPN", node_id="jpn-1", private_key=jpn_key
    )
    caplog.set_level(logging.WARNING, logger="trilat.federation")
    sender.start()
    try:
        assert wait_for(lambda: sender.status()["peers"][0]["tls_refused"] >= 1, timeout=15)
    finally:
        sender.stop()
    assert wait_for(lambda: served.finished >= served.connections >= 1, timeout=10)
    assert served.received == b""  # no request line, no signed header, no body
    assert "federation.tls_refused peer=usa-1" in caplog.text
    assert "TLS pin mismatch" in caplog.text
    assert "x-trilat-signature" not in caplog.text.lower()


def test_a_running_link_takes_the_tls_pin_of_a_re_pinned_card(
    listener: tuple[TlsListener, str], jpn: tuple[Store, bytes]
) -> None:
    served, pin = listener
    store, jpn_key = jpn
    usa_key = generate_private_key()
    pin_usa(store, served.url, "00" * 32, usa_key)
    sender = Federation(
        store=store, policy=load_policy(), nation="JPN", node_id="jpn-1", private_key=jpn_key
    )
    sender.start()
    try:
        assert wait_for(lambda: sender.status()["peers"][0]["tls_refused"] >= 1, timeout=15)
        assert served.received == b""
        pin_usa(store, served.url, pin, usa_key)  # a new card, same node key: the served TLS key
        assert wait_for(lambda: b"POST /api/v1/federation/push" in served.received, timeout=15)
    finally:
        sender.stop()


def test_two_nodes_replicate_over_https_with_pinned_cards(tmp_path: Path) -> None:
    nodes = {}
    for nation in ("USA", "JPN"):
        directory = tmp_path / nation.lower()
        port = free_port()
        init(directory, nation=nation, listen=f"127.0.0.1:{port}", db=None, node_id=None, tls=True)
        settings = load_settings(directory)
        assert settings.tls_cert is not None
        nodes[nation] = (directory, port, certificate_pin(settings.tls_cert))
    for holder, other in (("USA", "JPN"), ("JPN", "USA")):
        directory, port, pin = nodes[other]
        settings = load_settings(directory)
        card = make_card(
            nation=other,
            node=settings.node_id,
            url=f"https://127.0.0.1:{port}",
            private_key=read_private_key(settings.key_path),
            issued=datetime.now(UTC),
            tls_sha256=pin,
        )
        path = tmp_path / f"card-{other}.json"
        path.write_text(json.dumps(card_document(card)))
        add(nodes[holder][0], path, verify_only=False)
    with ThreadPoolExecutor(2) as starting:  # both start at once: the test waits for one
        launches = [
            starting.submit(Server, directory, port) for directory, port, _ in nodes.values()
        ]
    servers = [launch.result() for launch in launches if launch.exception() is None]
    try:
        assert len(servers) == 2, [launch.exception() for launch in launches]
        usa_dir, usa_port, usa_pin = nodes["USA"]
        token = (usa_dir / "admin.token").read_text().strip()
        with httpx.Client(
            base_url=f"https://127.0.0.1:{usa_port}",
            verify=pinned_context(usa_pin),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            trust_env=False,
        ) as client:
            created = client.post(
                "/api/v1/items",
                json={
                    "kind": "report",
                    "label": "SECRET//REL TO USA, JPN",
                    "topics": ["dprk.missile"],
                    "body": {"text": "over pinned TLS"},
                },
            )
            assert created.status_code == 201, created.text
            item = created.json()["id"]
            assert wait_for(lambda: item in inventory(nodes["JPN"][0]).documents, timeout=30)
            status = client.get("/api/v1/federation/status").json()
            card = client.get("/api/v1/federation/card").json()
    finally:
        with ThreadPoolExecutor(2) as stopping:
            list(stopping.map(Server.stop, servers))
    [peer] = status["peers"]
    assert peer["url"].startswith("https://")
    assert peer["tls_refused"] == 0
    assert card["tls_sha256"] == usa_pin  # the served card pins the key it is served with
    assert card["url"] == f"https://127.0.0.1:{usa_port}"


def test_a_transport_error_that_is_not_tls_stays_an_ordinary_peer_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(PeerError) as caught:
        get(HttpTransport(pin="ab" * 32), f"https://127.0.0.1:{port}/push")
    assert not isinstance(caught.value, TlsRefused)
