"""The CoT relay driven by pytak clients on 127.0.0.1: routing, labels, keep-alives, hostility."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import ssl
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from tests.cot.conftest import (
    CLEARED,
    FOREIGN,
    UNCLEARED,
    Pki,
    TakClient,
    position,
    raw_connect,
    read_until,
    run,
    start_relay,
    until,
)
from trilat.adapters.cot import decode_event, format_event
from trilat.adapters.cot_server import (
    CotServer,
    Viewer,
    client_tls_context,
    server_tls_context,
)
from trilat.core.clock import FixedClock
from trilat.core.labels import parse_label


def url(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


async def clients_connected(server: CotServer[Viewer], count: int) -> None:
    await until(lambda: len(server.clients) >= count, f"{count} clients")


def test_an_event_reaches_every_other_client_labelled_but_never_its_sender() -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        port = relay.ports["ops"]
        a, b, c = [await TakClient.open(url(port)) for _ in range(3)]
        await clients_connected(relay.server, 3)
        unknown = ET.Element("__bench", r="run", p="0", s="1", t="2")
        await a.send(position("alpha-1", callsign="ALPHA", extra=unknown))
        for receiver in (b, c):
            event = decode_event(await receiver.receive())
            assert event.uid == "alpha-1"
            assert event.access == "UNCLASSIFIED"
            assert event.trilat_label == "UNCLASSIFIED"
            assert event.detail().find("__bench").attrib == {
                "r": "run",
                "p": "0",
                "s": "1",
                "t": "2",
            }
        await b.send(position("bravo-1", callsign="BRAVO"))
        first = decode_event(await a.receive())
        assert first.uid == "bravo-1"  # nothing of its own came back before it
        assert [(e.uid, v.name, format(e.label)) for e, v in relay.sunk] == [
            ("alpha-1", "alice", "UNCLASSIFIED"),
            ("bravo-1", "alice", "UNCLASSIFIED"),
        ]
        assert {s.callsign for s in relay.server.clients} >= {"ALPHA", "BRAVO"}
        for client in (a, b, c):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_noforn_track_reaches_the_cleared_viewer_but_not_a_foreign_or_uncleared_one() -> None:
    async def scenario() -> None:
        relay = await start_relay(
            {
                "feed": ("UNCLASSIFIED", CLEARED),
                "usa": ("UNCLASSIFIED", CLEARED),
                "jpn": ("UNCLASSIFIED", FOREIGN),
                "low": ("UNCLASSIFIED", UNCLEARED),
            }
        )
        feed = await TakClient.open(url(relay.ports["feed"]))
        usa = await TakClient.open(url(relay.ports["usa"]))
        jpn = await TakClient.open(url(relay.ports["jpn"]))
        low = await TakClient.open(url(relay.ports["low"]))
        await clients_connected(relay.server, 4)
        await feed.send(position("sub-1", trilat="SECRET//NOFORN"))
        await feed.send(position("sub-2", trilat="SECRET//REL TO USA, JPN, KOR"))
        await feed.send(position("sentinel"))

        seen = {}
        for name, client in (("usa", usa), ("jpn", jpn), ("low", low)):
            events = [decode_event(e) for e in await client.receive_until(b'uid="sentinel"')]
            seen[name] = [(e.uid, e.access) for e in events]
        assert seen["usa"] == [
            ("sub-1", "SECRET//NOFORN"),
            ("sub-2", "SECRET//REL TO USA, JPN, KOR"),
            ("sentinel", "UNCLASSIFIED"),
        ]
        assert seen["jpn"] == [
            ("sub-2", "SECRET//REL TO USA, JPN, KOR"),
            ("sentinel", "UNCLASSIFIED"),
        ]
        assert seen["low"] == [("sentinel", "UNCLASSIFIED")]
        assert relay.server.stats.withheld == 3
        for client in (feed, usa, jpn, low):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_a_directed_event_goes_only_to_the_named_callsign() -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        port = relay.ports["ops"]
        names = ("ALPHA", "BRAVO", "CHARLIE")
        clients = {name: await TakClient.open(url(port)) for name in names}
        for name, client in clients.items():
            await client.send(position(f"sa-{name}", callsign=name))
        await until(
            lambda: {s.callsign for s in relay.server.clients} == set(names), "callsigns learned"
        )
        await clients["ALPHA"].send(
            position("chat-1", dest="BRAVO", cot_type="b-t-f", callsign="ALPHA")
        )
        await clients["ALPHA"].send(position("after", callsign="ALPHA"))
        bravo = await clients["BRAVO"].receive_until(b'uid="after"')
        charlie = await clients["CHARLIE"].receive_until(b'uid="after"')
        assert any(b'uid="chat-1"' in e for e in bravo)
        assert not any(b'uid="chat-1"' in e for e in charlie)
        assert relay.server.stats.directed == 1
        for client in clients.values():
            await client.close()
        await relay.server.close()

    run(scenario())


def test_an_event_mark_can_tighten_the_listener_label_but_never_loosen_it() -> None:
    async def scenario() -> None:
        relay = await start_relay(
            {"feed": ("SECRET//REL TO USA, JPN, KOR", CLEARED), "usa": ("UNCLASSIFIED", CLEARED)}
        )
        feed = await TakClient.open(url(relay.ports["feed"]))
        usa = await TakClient.open(url(relay.ports["usa"]))
        await clients_connected(relay.server, 2)
        await feed.send(position("claims-unclassified", trilat="UNCLASSIFIED"))
        await feed.send(position("tightened", trilat="SECRET//REL TO USA, JPN"))
        await feed.send(position("unparsable", trilat="SECRET//REL TO USA, XXX"))
        await feed.send(position("sentinel"))
        events = [decode_event(e) for e in await usa.receive_until(b'uid="sentinel"')]
        assert [(e.uid, e.access) for e in events] == [
            ("claims-unclassified", "SECRET//REL TO USA, JPN, KOR"),
            ("tightened", "SECRET//REL TO USA, JPN"),
            ("sentinel", "SECRET//REL TO USA, JPN, KOR"),
        ]
        assert relay.server.stats.bad_label == 1
        for client in (feed, usa):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_stale_events_are_dropped_and_stored_sa_is_replayed_until_it_goes_stale() -> None:
    async def scenario() -> None:
        clock = FixedClock(datetime.now(UTC))
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)}, clock=clock)
        port = relay.ports["ops"]
        publisher = await TakClient.open(url(port))
        watcher = await TakClient.open(url(port))
        await clients_connected(relay.server, 2)
        await publisher.send(position("old-news", stale=-60))
        await publisher.send(position("unit-7", callsign="UNIT7", stale=90))
        assert b'uid="unit-7"' in await watcher.receive()
        assert relay.server.stats.stale == 1

        late = await TakClient.open(url(port))
        assert b'uid="unit-7"' in await late.receive()  # replayed from the stored SA

        clock.at += timedelta(seconds=120)
        assert relay.server.expire_stored() == 1
        later = await TakClient.open(url(port))
        await clients_connected(relay.server, 4)
        await publisher.send(position("sentinel", stale=600))
        assert b'uid="sentinel"' in await later.receive()
        for client in (publisher, watcher, late, later):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_a_ping_is_answered_to_its_sender_only() -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        port = relay.ports["ops"]
        pinger = await TakClient.open(url(port))
        other = await TakClient.open(url(port))
        await clients_connected(relay.server, 2)
        await pinger.send(position("ANDROID-1-ping", cot_type="t-x-c-t", callsign="P"))
        pong = decode_event(await pinger.receive())
        assert pong.type == "t-x-c-t-r"
        assert pong.access == "UNCLASSIFIED"
        await pinger.send(position("sentinel"))
        assert b'uid="sentinel"' in await other.receive()
        assert relay.server.stats.pings == 1
        for client in (pinger, other):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_a_delete_is_relayed_and_forgets_the_stored_event() -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        port = relay.ports["ops"]
        owner = await TakClient.open(url(port))
        watcher = await TakClient.open(url(port))
        await clients_connected(relay.server, 2)
        await owner.send(position("marker-7", cot_type="b-m-p-s-m"))
        assert b'uid="marker-7"' in await watcher.receive()
        assert relay.server.stored_uids == ["marker-7"]
        now = datetime.now(UTC)
        delete = format_event(
            uid="delete-1",
            type="t-x-d-d",
            time=now,
            stale=now + timedelta(seconds=20),
            detail=b'<link uid="marker-7" relation="none" type="b-m-p-s-m"/><__forcedelete/>',
        )
        await owner.send(delete)
        relayed = decode_event(await watcher.receive())
        assert (relayed.type, relayed.link_uids) == ("t-x-d-d", ("marker-7",))
        assert relay.server.stored_uids == []
        for client in (owner, watcher):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_token_authentication_admits_known_tokens_and_closes_everything_else() -> None:
    async def scenario() -> None:
        relay = await start_relay(
            {"ops": ("UNCLASSIFIED", None)}, tokens={"tok-usa": CLEARED, "tok-jpn": FOREIGN}
        )
        port = relay.ports["ops"]

        def auth(token: str) -> bytes:
            return f'<auth><cot username="u" password="{token}" uid="x"/></auth>'.encode()

        r1, w1 = await raw_connect(port)
        w1.write(auth("tok-usa"))
        _r2, w2 = await raw_connect(port)
        w2.write(auth("tok-jpn") + position("from-jpn", trilat="UNCLASSIFIED"))
        assert b'uid="from-jpn"' in await read_until(r1, b'uid="from-jpn"')
        assert {s.viewer for s in relay.server.clients} == {CLEARED, FOREIGN}

        for attempt in (
            auth("wrong"),
            position("no-auth-first"),
            b"<auth><cot/></auth>",
            b"<auth>&lol;</auth>",
        ):
            reader, writer = await raw_connect(port)
            writer.write(attempt)
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the relay
            writer.close()
        assert relay.server.stats.unauthenticated == 4
        for writer in (w1, w2):
            writer.close()
        await relay.server.close()

    run(scenario())


def _nested(depth: int) -> ET.Element:
    top = element = ET.Element("a")
    for _ in range(depth - 1):
        element = ET.SubElement(element, "a")
    return top


def test_hostile_input_is_refused_and_counted_while_other_clients_keep_receiving() -> None:
    corpus = [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><event version="2.0">'
        b"<detail>&lol2;</detail></event>",
        position("deep", extra=_nested(60)),
        b'<event version="2.0" uid="huge"><detail><remarks>'
        + b"x" * 300_000
        + b"</remarks></detail></event>",
        b"\x00\x01GET / HTTP/1.1\r\nHost: relay\r\n\r\n",
        b'<event version="2.0" uid="broken"><point lat="1" lon="2"></event>',
        position("hostile-but-valid"),
    ]

    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        port = relay.ports["ops"]
        publisher = await TakClient.open(url(port))
        watcher = await TakClient.open(url(port))
        _, attacker = await raw_connect(port)
        await clients_connected(relay.server, 3)
        for number, hostile in enumerate(corpus):
            attacker.write(hostile)
            await attacker.drain()
            await publisher.send(position(f"good-{number}"))
        await publisher.send(position("sentinel"))
        got = await watcher.receive_until(b'uid="sentinel"')
        uids = [decode_event(e).uid for e in got]
        assert [u for u in uids if u.startswith("good-")] == [f"good-{n}" for n in range(6)]
        await until(lambda: relay.server.stats.accepted >= 8, "the attacker's valid event")
        assert "hostile-but-valid" in [e.uid for e, _ in relay.sunk]
        stats = relay.server.snapshot_stats()
        assert stats.rejected == {"malformed": 2, "too-deep": 1, "oversize": 1}
        assert stats.garbage_bytes > 0
        attacker.close()
        for client in (publisher, watcher):
            await client.close()
        await relay.server.close()

    run(scenario())


async def _slow_reader(port: int) -> asyncio.StreamWriter:
    """A client that connects with a tiny receive buffer and never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    _, writer = await asyncio.open_connection(sock=sock)
    return writer


@pytest.mark.parametrize("policy", ["drop-oldest", "disconnect"])
def test_a_slow_reader_is_bounded_and_never_stalls_the_others(policy: str) -> None:
    count = 3000
    padding = ET.Element("remarks")
    padding.text = "p" * 600

    async def scenario() -> None:
        relay = await start_relay(
            {"ops": ("UNCLASSIFIED", CLEARED)},
            max_queue_bytes=256 * 1024,
            transport_buffer_bytes=16 * 1024,
            socket_send_buffer=16 * 1024,
            slow_client=policy,
        )
        port = relay.ports["ops"]
        slow = await _slow_reader(port)
        fast_reader, fast = await raw_connect(port)
        _, publisher = await raw_connect(port)
        await clients_connected(relay.server, 3)
        received = 0

        async def drain_fast() -> None:
            nonlocal received
            buffered = b""
            while received < count:
                chunk = await fast_reader.read(1 << 16)
                if not chunk:
                    return
                buffered += chunk
                received += buffered.count(b"</event>")
                buffered = (
                    buffered[buffered.rfind(b"</event>") + 8 :]
                    if b"</event>" in buffered
                    else buffered
                )

        reading = asyncio.ensure_future(drain_fast())
        for number in range(count):
            publisher.write(position(f"p-{number}", extra=padding))
            if number % 50 == 0:  # a reader that keeps up stays well inside its queue
                await publisher.drain()
                await until(lambda n=number: received >= n - 100, "the fast reader")
        await publisher.drain()
        await asyncio.wait_for(reading, 20)
        assert received == count
        stats = relay.server.stats
        if policy == "drop-oldest":
            assert stats.dropped_slow > 0
            assert stats.disconnected_slow == 0
        else:
            assert stats.disconnected_slow == 1
            await until(lambda: len(relay.server.clients) == 2, "the slow client to be gone")
        for writer in (slow, fast, publisher):
            writer.close()
        await relay.server.close()

    run(scenario())


# pytak sets the deprecated ssl.OP_NO_TLSv1* options on its client context
@pytest.mark.filterwarnings("ignore:ssl.OP_NO_SSL:DeprecationWarning")
def test_tls_clients_are_identified_by_certificate_and_filtered_by_it(pki: Pki) -> None:
    async def scenario() -> None:
        tls = server_tls_context(str(pki.server_cert), str(pki.server_key), str(pki.ca))
        relay = await start_relay(
            {"tls": ("UNCLASSIFIED", None)},
            tls=tls,
            subjects={"alice": CLEARED, "kenji": FOREIGN},
        )
        port = relay.ports["tls"]

        async def tls_client(name: str) -> TakClient:
            cert, key = pki.clients[name]
            return await TakClient.open(
                f"tls://127.0.0.1:{port}",
                PYTAK_TLS_CLIENT_CERT=str(cert),
                PYTAK_TLS_CLIENT_KEY=str(key),
                PYTAK_TLS_CLIENT_CAFILE=str(pki.ca),
            )

        alice = await tls_client("alice")
        kenji = await tls_client("kenji")
        await clients_connected(relay.server, 2)
        await alice.send(position("noforn-1", trilat="SECRET//NOFORN"))
        await alice.send(position("rel-1", trilat="SECRET//REL TO USA, JPN"))
        got = [decode_event(e).uid for e in await kenji.receive_until(b'uid="rel-1"')]
        assert got == ["rel-1"]
        await kenji.send(position("from-kenji"))
        assert b'uid="from-kenji"' in await alice.receive()

        rogue = ssl.create_default_context(cafile=str(pki.ca))
        rogue.load_cert_chain(str(pki.rogue[0]), str(pki.rogue[1]))

        async def rogue_attempt() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=rogue)
            writer.write(position("rogue"))
            await writer.drain()
            if not await asyncio.wait_for(reader.read(), 10):
                raise ConnectionError("closed by the relay")

        with pytest.raises((ssl.SSLError, ConnectionError)):
            await rogue_attempt()
        assert len(relay.server.clients) == 2
        for client in (alice, kenji):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_client_mode_links_two_relays_through_the_same_filter() -> None:
    async def scenario() -> None:
        partner = await start_relay({"jpn-tak": ("UNCLASSIFIED", CLEARED)})
        local = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        link = await local.server.connect(
            "127.0.0.1",
            partner.ports["jpn-tak"],
            label=parse_label("UNCLASSIFIED", owner="JPN"),
            viewer=FOREIGN,
            name="jpn-link",
        )
        ours = await TakClient.open(url(local.ports["ops"]))
        theirs = await TakClient.open(url(partner.ports["jpn-tak"]))
        await clients_connected(local.server, 2)
        await clients_connected(partner.server, 2)

        await ours.send(position("us-noforn", trilat="SECRET//NOFORN"))
        await ours.send(position("us-open"))
        got = [decode_event(e).uid for e in await theirs.receive_until(b'uid="us-open"')]
        assert got == ["us-open"]

        await theirs.send(position("jp-open", callsign="KENJI"))
        event = decode_event(await ours.receive())
        assert event.uid == "jp-open"
        assert event.access == "UNCLASSIFIED"
        assert [e.uid for e, v in local.sunk if v == FOREIGN] == ["jp-open"]

        # a directed event finds a callsign behind the link
        await ours.send(position("dm-1", dest="KENJI", cot_type="b-t-f"))
        assert decode_event(await theirs.receive()).uid == "dm-1"

        # the partner restarts: the relay reconnects by itself
        port = partner.ports["jpn-tak"]
        await theirs.close()
        await partner.server.close()
        await until(lambda: link.attempts >= 2, "a reconnection attempt")
        partner = await start_relay(
            {"jpn-tak": ("UNCLASSIFIED", CLEARED)}, fixed_ports={"jpn-tak": port}
        )
        await link.wait_connected(10)
        theirs = await TakClient.open(url(port))
        await clients_connected(partner.server, 2)
        await ours.send(position("after-restart"))
        got = [decode_event(e).uid for e in await theirs.receive_until(b'uid="after-restart"')]
        assert got[-1] == "after-restart"
        for client in (ours, theirs):
            await client.close()
        await local.server.close()
        await partner.server.close()

    run(scenario())


def test_a_locally_published_event_follows_the_same_filter() -> None:
    async def scenario() -> None:
        relay = await start_relay(
            {"usa": ("UNCLASSIFIED", CLEARED), "jpn": ("UNCLASSIFIED", FOREIGN)}
        )
        usa = await TakClient.open(url(relay.ports["usa"]))
        jpn = await TakClient.open(url(relay.ports["jpn"]))
        await clients_connected(relay.server, 2)
        now = datetime.now(UTC)
        for uid, text in (
            ("node-noforn", "SECRET//NOFORN"),
            ("node-rel", "SECRET//REL TO USA, JPN"),
        ):
            event = decode_event(
                format_event(uid=uid, type="a-h-S", time=now, stale=now + timedelta(minutes=5))
            )
            relay.server.publish(event, parse_label(text, owner="USA"))
        assert [decode_event(e).uid for e in await jpn.receive_until(b'uid="node-rel"')] == [
            "node-rel"
        ]
        assert [decode_event(e).uid for e in await usa.receive_until(b'uid="node-rel"')] == [
            "node-noforn",
            "node-rel",
        ]
        assert sorted(relay.server.stored_uids) == ["node-noforn", "node-rel"]
        assert relay.sunk == []  # published events are not inbound
        for client in (usa, jpn):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_an_event_that_comes_back_to_the_relay_is_dropped_as_a_loop() -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        port = relay.ports["ops"]
        await relay.server.connect(  # a link from the relay to itself: the smallest ring
            "127.0.0.1", port, label=parse_label("UNCLASSIFIED", owner="USA"), viewer=CLEARED
        )
        sender = await TakClient.open(url(port))
        watcher = await TakClient.open(url(port))
        await clients_connected(relay.server, 4)
        await sender.send(position("ring-1"))
        await until(lambda: relay.server.stats.looped >= 1, "the copy to come back round")
        await sender.send(position("sentinel"))
        got = [decode_event(e).uid for e in await watcher.receive_until(b'uid="sentinel"')]
        assert got.count("ring-1") == 1  # the copy that went round the link was dropped
        assert relay.server.stats.looped >= 1
        for client in (sender, watcher):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_two_relays_linked_both_ways_deliver_each_event_once() -> None:
    async def scenario() -> None:
        east = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        west = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        label = parse_label("UNCLASSIFIED", owner="USA")
        for here, there in ((east, west), (west, east)):
            await here.server.connect("127.0.0.1", there.ports["ops"], label=label, viewer=CLEARED)
        east_client = await TakClient.open(url(east.ports["ops"]))
        west_client = await TakClient.open(url(west.ports["ops"]))
        await clients_connected(east.server, 3)  # its client, its link, the other's link
        await clients_connected(west.server, 3)
        for number in range(3):
            await east_client.send(position(f"from-east-{number}"))
            await west_client.send(position(f"from-west-{number}"))
        await east_client.send(position("east-done"))
        await west_client.send(position("west-done"))
        at_west = [decode_event(e).uid for e in await west_client.receive_until(b"east-done")]
        at_east = [decode_event(e).uid for e in await east_client.receive_until(b"west-done")]
        # whatever else is in flight, nothing arrives twice
        await east_client.send(position("sentinel"))
        at_west += [decode_event(e).uid for e in await west_client.receive_until(b"sentinel")]
        assert [u for u in at_west if u.startswith("from-east")] == [
            f"from-east-{n}" for n in range(3)
        ]
        assert [u for u in at_east if u.startswith("from-west")] == [
            f"from-west-{n}" for n in range(3)
        ]
        assert west.server.stats.duplicates >= 4  # the second copy of each of east's events
        assert east.server.stats.looped >= 1  # and copies that came back round
        for client in (east_client, west_client):
            await client.close()
        await east.server.close()
        await west.server.close()

    run(scenario())


def test_closing_the_relay_closes_every_socket_even_unread_or_unauthenticated_ones() -> None:
    async def scenario() -> None:
        relay = await start_relay(
            {"ops": ("UNCLASSIFIED", CLEARED), "tok": ("UNCLASSIFIED", None)},
            transport_buffer_bytes=16 * 1024,
            socket_send_buffer=16 * 1024,
        )
        slow = await _slow_reader(relay.ports["ops"])
        _, publisher = await raw_connect(relay.ports["ops"])
        waiting_reader, waiting = await raw_connect(relay.ports["tok"])  # never sends <auth>
        await clients_connected(relay.server, 2)
        padding = ET.Element("remarks")
        padding.text = "x" * 2000
        for number in range(200):  # far more than the slow reader's buffers hold
            publisher.write(position(f"fill-{number}", extra=padding))
        await publisher.drain()
        await until(lambda: relay.server.stats.accepted >= 200, "the relay to read them all")
        await asyncio.wait_for(relay.server.close(), 10)
        assert relay.server._open == set()
        assert await asyncio.wait_for(waiting_reader.read(), 5) == b""  # not its auth timeout
        for writer in (slow, publisher, waiting):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    run(scenario())


def test_connections_beyond_the_limit_are_refused() -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)}, max_connections=2)
        port = relay.ports["ops"]
        first = await TakClient.open(url(port))
        second = await TakClient.open(url(port))
        await clients_connected(relay.server, 2)
        reader, writer = await raw_connect(port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        assert relay.server.stats.refused_full == 1
        await first.send(position("still-working"))
        assert b'uid="still-working"' in await second.receive()
        for client in (first, second):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_client_mode_over_tls_presents_a_certificate_and_verifies_the_server(pki: Pki) -> None:
    async def scenario() -> None:
        tls = server_tls_context(str(pki.server_cert), str(pki.server_key), str(pki.ca))
        partner = await start_relay(
            {"tak-tls": ("UNCLASSIFIED", None)}, tls=tls, subjects={"relay-a": FOREIGN}
        )
        local = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        cert, key = pki.clients["relay-a"]
        link = await local.server.connect(
            "127.0.0.1",
            partner.ports["tak-tls"],
            label=parse_label("UNCLASSIFIED", owner="JPN"),
            viewer=FOREIGN,
            ssl_context=client_tls_context(str(pki.ca), str(cert), str(key)),
            server_hostname="127.0.0.1",
        )
        await clients_connected(partner.server, 1)
        assert [s.viewer for s in partner.server.clients] == [FOREIGN]  # known by its certificate
        ours = await TakClient.open(url(local.ports["ops"]))
        await clients_connected(local.server, 2)
        await ours.send(position("over-tls"))
        await until(lambda: "over-tls" in [e.uid for e, _ in partner.sunk], "the event over TLS")

        untrusted = ssl.create_default_context()  # system roots: the test CA is unknown
        with pytest.raises(ssl.SSLCertVerificationError):
            await local.server.connect(
                "127.0.0.1",
                partner.ports["tak-tls"],
                label=parse_label("UNCLASSIFIED", owner="JPN"),
                viewer=FOREIGN,
                ssl_context=untrusted,
                server_hostname="127.0.0.1",
                reconnect=False,
            )
        await link.close()
        await ours.close()
        await local.server.close()
        await partner.server.close()

    run(scenario())


def test_a_silent_client_is_closed_while_one_sending_keep_alives_stays() -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)}, idle_timeout=1.0)
        port = relay.ports["ops"]
        silent_reader, silent = await raw_connect(port)
        talker = await TakClient.open(url(port))
        await clients_connected(relay.server, 2)

        async def keep_alive() -> None:
            while True:
                await talker.send(position("talker-sa", callsign="TALKER"))
                await asyncio.sleep(0.2)

        pinging = asyncio.ensure_future(keep_alive())
        while await asyncio.wait_for(silent_reader.read(1 << 16), 10):
            pass  # SA from the talker, until the relay closes this silent connection
        pinging.cancel()
        assert relay.server.stats.idle_closed == 1
        assert [s.callsign for s in relay.server.clients] == ["TALKER"]
        silent.close()
        await talker.close()
        await relay.server.close()

    run(scenario())


def test_client_mode_signs_in_to_a_server_that_wants_an_auth_message() -> None:
    secret = secrets.token_urlsafe(16) + '&<"'  # characters that need escaping in XML

    async def scenario() -> None:
        partner = await start_relay({"tak": ("UNCLASSIFIED", None)}, tokens={secret: FOREIGN})
        local = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        await local.server.connect(
            "127.0.0.1",
            partner.ports["tak"],
            label=parse_label("UNCLASSIFIED", owner="JPN"),
            viewer=FOREIGN,
            username="usa-relay",
            token=secret,
        )
        await clients_connected(partner.server, 1)
        assert [s.viewer for s in partner.server.clients] == [FOREIGN]
        await local.server.close()
        await partner.server.close()

    run(scenario())


def test_decisions_stay_right_when_the_label_table_is_started_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("trilat.adapters.cot_server._MAX_LABELS", 3)
    marks = [
        "SECRET//REL TO USA, JPN",
        "SECRET//NOFORN",
        "CONFIDENTIAL//REL TO USA, JPN",
        "CONFIDENTIAL//NOFORN",
        "TOP SECRET//NOFORN",
    ]

    async def scenario() -> None:
        relay = await start_relay(
            {"feed": ("UNCLASSIFIED", CLEARED), "jpn": ("UNCLASSIFIED", FOREIGN)}
        )
        feed = await TakClient.open(url(relay.ports["feed"]))
        jpn = await TakClient.open(url(relay.ports["jpn"]))
        await clients_connected(relay.server, 2)
        for round_number in range(3):
            for number, mark in enumerate(marks):
                await feed.send(position(f"r{round_number}-{number}", trilat=mark))
        await feed.send(position("sentinel"))
        got = [decode_event(e) for e in await jpn.receive_until(b'uid="sentinel"')]
        assert [e.uid for e in got] == [uid for r in range(3) for uid in (f"r{r}-0", f"r{r}-2")] + [
            "sentinel"
        ]
        assert all("NOFORN" not in (e.access or "") for e in got)
        for client in (feed, jpn):
            await client.close()
        await relay.server.close()

    run(scenario())


def test_a_callsign_bound_to_an_authenticated_user_cannot_be_claimed_by_anyone_else() -> None:
    async def scenario() -> None:
        relay = await start_relay(
            {"ops": ("UNCLASSIFIED", None), "open": ("UNCLASSIFIED", UNCLEARED)},
            tokens={"tok-alice": CLEARED, "tok-kenji": FOREIGN},
        )
        ops, open_port = relay.ports["ops"], relay.ports["open"]

        def auth(token: str) -> bytes:
            return f'<auth><cot username="u" password="{token}" uid="x"/></auth>'.encode()

        alice = await TakClient.open(url(ops))
        await alice.send(auth("tok-alice") + position("alice-1", callsign="ALPHA"))
        await until(lambda: "ALPHA" in relay.server._claims, "ALPHA bound to alice")
        kenji = await TakClient.open(url(ops))
        await kenji.send(auth("tok-kenji") + position("kenji-1", callsign="ALPHA"))
        anonymous = await TakClient.open(url(open_port))
        await anonymous.send(position("anon-1", callsign="ALPHA"))
        await anonymous.send(position("anon-2", callsign="ECHO"))  # unbound: may be claimed
        await until(lambda: relay.server.stats.claim_refused == 2, "two refused claims")
        await until(
            lambda: {s.callsign for s in relay.server.clients} == {"ALPHA", None, "ECHO"},
            "only the binding owner holds ALPHA",
        )
        assert relay.server._claims["ALPHA"] == CLEARED
        assert "ECHO" not in relay.server._claims  # default viewers bind nothing

        sender = await TakClient.open(url(open_port))
        await clients_connected(relay.server, 4)
        await sender.send(position("dm-1", dest="ALPHA", cot_type="b-t-f"))
        await sender.send(position("dm-2", dest="ECHO", cot_type="b-t-f"))
        await sender.send(position("after", callsign="SIERRA"))
        got = {
            name: await client.receive_until(b'uid="after"')
            for name, client in (("alice", alice), ("kenji", kenji), ("anon", anonymous))
        }
        assert any(b'uid="dm-1"' in e for e in got["alice"])
        assert not any(b'uid="dm-1"' in e for e in got["kenji"] + got["anon"])
        assert any(b'uid="dm-2"' in e for e in got["anon"])
        # the spoofed SA was dropped, not relayed under the stolen callsign
        assert not any(b'uid="kenji-1"' in e or b'uid="anon-1"' in e for e in got["alice"])

        # the same user on a second connection keeps the callsign and takes its route
        again = await TakClient.open(url(ops))
        await again.send(auth("tok-alice") + position("alice-1", callsign="ALPHA"))
        routes = relay.server._connections
        await until(
            lambda: len(routes) == 5 and "ALPHA" in routes[-1].reachable,
            "ALPHA moved to alice's new connection",
        )
        assert [c for c in routes if "ALPHA" in c.reachable] == [routes[-1]]
        assert relay.server.stats.claim_refused == 2
        for client in (alice, kenji, anonymous, sender, again):
            await client.close()
        await relay.server.close()

    run(scenario())
