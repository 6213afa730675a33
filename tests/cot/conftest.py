"""CoT test kit: pytak clients, a relay wired to the real policy, and a throw-away PKI."""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import datetime as dt
import ipaddress
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trilat.adapters.cot import CotEvent
from trilat.adapters.cot_server import ConnectionInfo, CotServer, Listener, Viewer
from trilat.agreement_files import load_agreements
from trilat.core.clock import Clock, SystemClock
from trilat.core.labels import Classification, Label, parse_label
from trilat.core.policy import Policy, Subject

with warnings.catch_warnings():  # pytak warns at import about optional extras it can live without
    warnings.simplefilter("ignore")
    import pytak

T = TypeVar("T")
NODE = "USA"
STEP = 10.0  # seconds any single wait may take before a test fails


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one async scenario on a fresh loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


def label(text: str) -> Label:
    return parse_label(text, owner=NODE)


def position(
    uid: str,
    *,
    callsign: str | None = None,
    trilat: str | None = None,
    dest: str | None = None,
    extra: ET.Element | None = None,
    stale: int = 120,
    cot_type: str = "a-f-G-U-C",
) -> bytes:
    """A CoT event written by pytak's own builder, with optional trilat/marti detail."""
    detail = pytak.cot_detail(flow_tag=False)
    if trilat is not None:
        ET.SubElement(detail, "__trilat", label=trilat)
    if dest is not None:
        marti = ET.SubElement(detail, "marti")
        ET.SubElement(marti, "dest", callsign=dest)
    if extra is not None:
        detail.append(extra)
    event = pytak.cot_event(
        lat=35.0,
        lon=135.0,
        uid=uid,
        cot_type=cot_type,
        stale=stale,
        detail=detail,
        callsign=callsign,
    )
    return pytak.serialize_cot(event)


class TakClient:
    """A TAK client made of pytak's own transport and TX/RX workers."""

    def __init__(
        self,
        tx: asyncio.Queue[bytes],
        rx: asyncio.Queue[bytes],
        tasks: list[Any],
        writer: asyncio.StreamWriter,
    ) -> None:
        self.tx, self.rx, self.tasks, self.writer = tx, rx, tasks, writer

    @classmethod
    async def open(cls, url: str, **settings: str) -> TakClient:
        parser = configparser.ConfigParser(interpolation=None)
        parser["client"] = {"COT_URL": url, **settings}
        config = parser["client"]
        reader, writer = await asyncio.wait_for(pytak.protocol_factory(config), STEP)
        tx: asyncio.Queue[bytes] = asyncio.Queue()
        rx: asyncio.Queue[bytes] = asyncio.Queue()
        workers = [pytak.TXWorker(tx, config, writer), pytak.RXWorker(rx, config, reader)]
        tasks = [asyncio.ensure_future(worker.run()) for worker in workers]
        return cls(tx, rx, tasks, writer)

    async def send(self, data: bytes) -> None:
        await self.tx.put(data)

    async def receive(self) -> bytes:
        return await asyncio.wait_for(self.rx.get(), STEP)

    async def receive_until(self, marker: bytes) -> list[bytes]:
        """Every event up to and including the first that contains *marker*."""
        got: list[bytes] = []
        while True:
            event = await self.receive()
            got.append(event)
            if marker in event:
                return got

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.writer.close()
        # a TLS stream closes its socket only after the close_notify exchange: wait for it,
        # or the loop may end first and leave the socket open
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), STEP)


async def raw_connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), STEP)


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    """Bytes from *reader* up to and including the event that carries *marker*."""
    data = b""
    while marker not in data:
        chunk = await asyncio.wait_for(reader.read(1 << 16), STEP)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r} arrived")
        data += chunk
    end = data.index(b"</event>", data.index(marker)) + len(b"</event>")
    return data[:end]


def policy_may_deliver(clock: Clock) -> Callable[[Label, Viewer], bool]:
    """The delivery check a node passes: the real policy's ``may_view`` on this node."""
    policy = Policy(load_agreements())

    def may_deliver(event_label: Label, viewer: Viewer) -> bool:
        subject = Subject(label=event_label, topics=("maritime.track",))
        decision = policy.may_view(subject, viewer.nation, viewer.clearance, NODE, clock.now())
        return decision.allowed

    return may_deliver


CLEARED = Viewer("alice", "USA", Classification.SECRET)
UNCLEARED = Viewer("bob", "USA", Classification.UNCLASSIFIED)
FOREIGN = Viewer("kenji", "JPN", Classification.SECRET)


@dataclass
class Relay:
    """A running relay and what its sink received."""

    server: CotServer[Viewer]
    ports: dict[str, int]
    sunk: list[tuple[CotEvent, Viewer]] = field(default_factory=list)


async def start_relay(
    listeners: dict[str, tuple[str, Viewer | None]],
    *,
    tokens: dict[str, Viewer] | None = None,
    subjects: dict[str, Viewer] | None = None,
    clock: Clock | None = None,
    tls: Any = None,
    fixed_ports: dict[str, int] | None = None,
    **options: Any,
) -> Relay:
    """Listeners by name → (label, default viewer); ``None`` viewer = authenticate by token
    (``<auth>`` message) or by the TLS client certificate's common name."""
    clock = clock or SystemClock()
    sunk: list[tuple[CotEvent, Viewer]] = []
    defaults = {name: viewer for name, (_, viewer) in listeners.items()}

    def authenticate(info: ConnectionInfo) -> Viewer | None:
        if info.token is not None:
            return (tokens or {}).get(info.token)
        if info.certificate_subject:
            return (subjects or {}).get(info.certificate_subject.get("commonName", ""))
        return defaults.get(info.listener)

    server: CotServer[Viewer] = CotServer(
        authenticate=authenticate,
        may_deliver=policy_may_deliver(clock),
        sink=lambda event, viewer: sunk.append((event, viewer)),
        clock=clock,
        **options,
    )
    ports: dict[str, int] = {}
    for name, (text, viewer) in listeners.items():
        auth = "message" if viewer is None and tls is None else "none"
        _, port = await server.listen(
            Listener(
                "127.0.0.1",
                (fixed_ports or {}).get(name, 0),
                label(text),
                name=name,
                auth=auth,
                ssl=tls,
            )
        )
        ports[name] = port
    return Relay(server, ports, sunk)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for a condition that a server callback makes true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# -- a throw-away PKI ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]
    rogue: tuple[Path, Path]  # a client certificate from another CA


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(
    path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    key_path = path.with_suffix(".key")
    cert_path = path.with_suffix(".pem")
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _issue(
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer if not ca else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    signer = key if ca else issuer_key
    return key, builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _issue(
        "trilat test CA", ec.generate_private_key(ec.SECP256R1()), _name("unused"), ca=True
    )
    ca_path, _ = _write(folder / "ca", ca_key, ca_cert)
    server_key, server_cert = _issue("relay", ca_key, ca_cert.subject, server=True)
    server_paths = _write(folder / "server", server_key, server_cert)
    clients = {}
    for name in ("alice", "kenji", "relay-a"):
        key, cert = _issue(name, ca_key, ca_cert.subject)
        clients[name] = _write(folder / name, key, cert)
    rogue_ca_key, rogue_ca = _issue(
        "rogue CA", ec.generate_private_key(ec.SECP256R1()), _name("unused"), ca=True
    )
    rogue_key, rogue_cert = _issue("alice", rogue_ca_key, rogue_ca.subject)
    rogue = _write(folder / "rogue", rogue_key, rogue_cert)
    return Pki(ca_path, server_paths[0], server_paths[1], clients, rogue)
