"""``trilat cot``: run a standalone Cursor-on-Target relay, or decode a CoT stream.

``trilat cot serve`` relays CoT between TAK clients like a TAK server's broadcast, except that
every event is labelled (the listener's label, or the stricter mark an event carries) and is
written only to connections whose viewer the releasability policy lets see it. The standalone
relay gives every client of a listener the same viewer (``--viewer-nation``/``--clearance``);
a trilat node maps each user or certificate to its own viewer instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from trilat.adapters.cot import CotLimits, CotStreamDecoder, flow_tag_attribute
from trilat.adapters.cot_server import (
    ConnectionInfo,
    CotServer,
    Listener,
    Viewer,
    client_tls_context,
    server_tls_context,
)
from trilat.agreement_files import load_agreements
from trilat.cli.errors import BadInput
from trilat.core.clock import SystemClock, format_time
from trilat.core.labels import Classification, Label, is_nation, parse_label
from trilat.core.policy import Policy, Subject

app = typer.Typer(
    help="Cursor-on-Target: a label-enforcing TAK relay, and a CoT stream decoder.",
    no_args_is_help=True,
)


def _address(text: str, option: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise BadInput(f"{option} wants HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _nation(text: str, option: str) -> str:
    code = text.strip().upper()
    if not is_nation(code):
        raise BadInput(f"{option}: unknown nation {text!r}")
    return code


def _clearance(text: str, option: str) -> Classification:
    key = text.strip().upper().replace(" ", "_")
    if key not in Classification.__members__:
        choices = ", ".join(Classification.__members__)
        raise BadInput(f"{option}: unknown clearance {text!r} (one of {choices})")
    return Classification[key]


def _setup_logging() -> None:
    logger = logging.getLogger("trilat")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(os.environ.get("TRILAT_LOG_LEVEL", "WARNING").upper())


@app.command("serve")
def serve(
    listen: Annotated[
        list[str],
        typer.Option("--listen", metavar="HOST:PORT", help="Listen here (repeatable)."),
    ],
    node_nation: Annotated[
        str, typer.Option("--node-nation", help="Nation of this node (owner of inbound data).")
    ],
    label: Annotated[
        str,
        typer.Option("--label", help="Label of what clients send (an event may mark it stricter)."),
    ] = "UNCLASSIFIED",
    viewer_nation: Annotated[
        str | None,
        typer.Option("--viewer-nation", help="Nationality of the clients (default: node nation)."),
    ] = None,
    clearance: Annotated[
        str, typer.Option("--clearance", help="Clearance of the clients.")
    ] = "UNCLASSIFIED",
    topic: Annotated[
        str, typer.Option("--topic", help="Topic the policy checks relayed events under.")
    ] = "track",
    agreements: Annotated[
        Path | None,
        typer.Option("--agreements", help="Agreement folder (default: the shipped set)."),
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Server certificate.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Server key.")] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option("--tls-client-ca", help="CA that signs client certificates (required)."),
    ] = None,
    connect: Annotated[
        list[str] | None,
        typer.Option("--connect", metavar="HOST:PORT", help="Also link to this TAK server."),
    ] = None,
    link_ca: Annotated[
        Path | None, typer.Option("--link-ca", help="Verify linked servers with TLS and this CA.")
    ] = None,
    link_cert: Annotated[Path | None, typer.Option("--link-cert", help="Link certificate.")] = None,
    link_key: Annotated[Path | None, typer.Option("--link-key", help="Link key.")] = None,
    max_queue_bytes: Annotated[
        int, typer.Option("--max-queue-bytes", help="Backlog per slow client before dropping.")
    ] = 16 * 1024 * 1024,
    slow_client: Annotated[
        str, typer.Option("--slow-client", help="drop-oldest or disconnect.")
    ] = "drop-oldest",
    max_connections: Annotated[
        int, typer.Option("--max-connections", help="Clients admitted at once.")
    ] = 1000,
    idle_timeout: Annotated[
        float | None,
        typer.Option("--idle-timeout", help="Close clients silent for this many seconds."),
    ] = None,
    relay_name: Annotated[
        str | None,
        typer.Option("--relay-name", help="Name in _flow-tags_ (default: trilat-<random>)."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after this many seconds.")
    ] = None,
) -> None:
    """Relay CoT between TAK clients, writing each event only where its label allows."""
    node = _nation(node_nation, "--node-nation")
    viewer = Viewer(
        name="default",
        nation=_nation(viewer_nation, "--viewer-nation") if viewer_nation else node,
        clearance=_clearance(clearance, "--clearance"),
    )
    inbound = parse_label(label, owner=node)
    if relay_name is not None:
        try:
            flow_tag_attribute(relay_name, datetime.now(UTC))
        except ValueError as exc:
            raise BadInput(f"--relay-name: {exc}") from None
    if idle_timeout is not None and idle_timeout <= 0:
        raise BadInput(f"--idle-timeout must be positive, got {idle_timeout}")
    if max_connections < 1:
        raise BadInput(f"--max-connections must be at least 1, got {max_connections}")
    addresses = [_address(text, "--listen") for text in listen]
    links = [_address(text, "--connect") for text in connect or ()]
    if slow_client not in ("drop-oldest", "disconnect"):
        raise BadInput(f"--slow-client: {slow_client!r} is not drop-oldest or disconnect")
    if (tls_cert is None) != (tls_key is None):
        raise BadInput("--tls-cert and --tls-key go together")
    if tls_cert is not None and tls_client_ca is None:
        raise BadInput("--tls-client-ca is required with --tls-cert: clients must be known")
    tls = (
        server_tls_context(str(tls_cert), str(tls_key), str(tls_client_ca))
        if tls_cert is not None and tls_key is not None
        else None
    )
    link_tls = (
        client_tls_context(
            str(link_ca),
            str(link_cert) if link_cert else None,
            str(link_key) if link_key else None,
        )
        if link_ca is not None
        else None
    )
    policy = Policy(load_agreements(agreements))
    clock = SystemClock()

    def may_deliver(event_label: Label, who: Viewer) -> bool:
        subject = Subject(label=event_label, topics=(topic,))
        return policy.may_view(subject, who.nation, who.clearance, node, clock.now()).allowed

    def authenticate(info: ConnectionInfo) -> Viewer | None:
        return viewer

    _setup_logging()
    asyncio.run(
        _serve(
            CotServer(
                authenticate=authenticate,
                may_deliver=may_deliver,
                clock=clock,
                limits=CotLimits(),
                max_queue_bytes=max_queue_bytes,
                slow_client="disconnect" if slow_client == "disconnect" else "drop-oldest",
                max_connections=max_connections,
                idle_timeout=idle_timeout,
                relay_name=relay_name,
            ),
            [Listener(host, port, inbound, ssl=tls) for host, port in addresses],
            links,
            link_tls,
            inbound,
            viewer,
            duration,
        )
    )


async def _serve(
    server: CotServer[Viewer],
    listeners: list[Listener],
    links: list[tuple[str, int]],
    link_tls: Any,
    label: Label,
    viewer: Viewer,
    duration: float | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        for listener in listeners:
            host, port = await server.listen(listener)
            print(f"listening {host}:{port}", flush=True)
        for number, (host, port) in enumerate(links):
            await server.connect(
                host,
                port,
                label=label,
                viewer=viewer,
                name=f"link{number}",
                ssl_context=link_tls,
                server_hostname=host if link_tls is not None else None,
            )
            print(f"linked {host}:{port}", flush=True)
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
    finally:
        await server.close()
        stats = server.snapshot_stats().as_dict()
        print(json.dumps({"stats": stats}, sort_keys=True), file=sys.stderr, flush=True)


@app.command("decode")
def decode(
    source: Annotated[str, typer.Argument(help="A file of concatenated CoT events, or -.")],
) -> None:
    """Print each CoT event of SOURCE as one JSON object; refusals are counted on stderr."""
    decoder = CotStreamDecoder()
    if source == "-":
        stream = sys.stdin.buffer
    else:
        path = Path(source)
        if not path.is_file():
            raise BadInput(f"no such file: {source!r}")
        stream = path.open("rb")
    with stream:
        while chunk := stream.read(1 << 16):
            for event in decoder.feed(chunk):
                record = {
                    "uid": event.uid,
                    "type": event.type,
                    "how": event.how,
                    "time": format_time(event.time),
                    "start": format_time(event.start),
                    "stale": format_time(event.stale),
                    "lat": event.lat,
                    "lon": event.lon,
                    "hae": event.hae,
                    "ce": event.ce,
                    "le": event.le,
                    "callsign": event.callsign,
                    "label": event.trilat_label,
                    "access": event.access,
                    "dest_callsigns": list(event.dest_callsigns),
                    "dest_uids": list(event.dest_uids),
                }
                print(json.dumps(record, sort_keys=True))
    refused = dict(decoder.rejected)
    if decoder.buffered:
        refused["incomplete"] = 1
    if refused or decoder.garbage_bytes:
        summary = {"refused": refused, "garbage_bytes": decoder.garbage_bytes}
        print(json.dumps(summary, sort_keys=True), file=sys.stderr)
