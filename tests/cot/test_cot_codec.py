"""CoT codec and stream framing: decoding, relabelling, and refusing hostile input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilat.adapters.cot import (
    CotLimits,
    CotStreamDecoder,
    decode_event,
    flow_tag_attribute,
    format_event,
    label_marks,
    parse_cot_time,
    render_event,
    topic_for_type,
)
from trilat.core.errors import DecodeError
from trilat.core.labels import parse_label

ATAK_SA = (
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
    b"<event version='2.0' uid='ANDROID-589520ccfcd20f01' type='a-f-G-U-C' "
    b"time='2019-07-23T00:33:00.000Z' start='2019-07-23T00:33:00.000Z' "
    b"stale='2019-07-23T00:39:00.000Z' how='h-e'>"
    b"<point lat='37.2420' lon='131.8650' hae='9999999.0' ce='9999999.0' le='9999999.0'/>"
    b"<detail><takv os='28' version='4.1.0.231' device='SAMSUNG SM-G950U' platform='ATAK-CIV'/>"
    b"<contact endpoint='*:-1:stcp' callsign='DOKDO-1'/><uid Droid='DOKDO-1'/>"
    b"<__group role='Team Member' name='Cyan'/><status battery='88'/>"
    b"<track course='85.0' speed='0.0'/></detail></event>"
)


def event_bytes(uid: str, detail: bytes = b"<detail/>", extra: str = "") -> bytes:
    return (
        (
            f'<event version="2.0" uid="{uid}" type="a-h-S" time="2026-11-28T12:00:00Z" '
            f'start="2026-11-28T12:00:00Z" stale="2026-11-28T12:05:00Z" how="m-g"{extra}>'
            f'<point lat="37.5" lon="129.1" hae="0" ce="50" le="50"/>'
        ).encode()
        + detail
        + b"</event>"
    )


def test_atak_position_report_decodes_to_the_full_record() -> None:
    event = decode_event(ATAK_SA)
    assert (event.uid, event.type, event.how) == ("ANDROID-589520ccfcd20f01", "a-f-G-U-C", "h-e")
    assert event.time == datetime(2019, 7, 23, 0, 33, tzinfo=UTC)
    assert event.start == event.time
    assert event.stale == datetime(2019, 7, 23, 0, 39, tzinfo=UTC)
    assert (event.lat, event.lon) == (37.242, 131.865)
    assert (event.hae, event.ce, event.le) == (9999999.0, 9999999.0, 9999999.0)
    assert event.callsign == "DOKDO-1"
    assert event.access is None
    assert event.trilat_label is None
    assert event.dest_callsigns == ()
    assert event.dest_uids == ()
    assert not event.directed
    assert event.xml == ATAK_SA[ATAK_SA.index(b"<event") :]
    assert [child.tag for child in event.detail()] == [
        "takv",
        "contact",
        "uid",
        "__group",
        "status",
        "track",
    ]


def test_marti_destinations_and_delete_links_are_read() -> None:
    event = decode_event(
        event_bytes(
            "chat-1",
            b'<detail><marti><dest callsign="ALPHA"/><dest uid="ANDROID-2"/>'
            b'<dest callsign="BRAVO"/></marti><link uid="marker-7" relation="none"/></detail>',
        )
    )
    assert event.dest_callsigns == ("ALPHA", "BRAVO")
    assert event.dest_uids == ("ANDROID-2",)
    assert event.link_uids == ("marker-7",)
    assert event.directed


def test_events_split_at_every_byte_boundary_decode_identically() -> None:
    stream = ATAK_SA + event_bytes("second")
    for cut in range(1, len(stream)):
        decoder = CotStreamDecoder()
        events = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [e.uid for e in events] == ["ANDROID-589520ccfcd20f01", "second"], cut
        assert decoder.garbage_bytes == 0
        assert not decoder.rejected
        assert decoder.buffered == 0


def test_an_end_tag_with_whitespace_before_its_bracket_ends_the_event_at_any_split() -> None:
    spaced = event_bytes("spaced").replace(b"</event>", b"</event \r\n\t>")
    nested = event_bytes("spaced", detail=b"<detail><events/></detail>")
    stream = spaced + event_bytes("next") + nested.replace(b"</event>", b"</event\n>")
    for cut in range(1, len(stream)):
        decoder = CotStreamDecoder()
        events = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [e.uid for e in events] == ["spaced", "next", "spaced"], cut
        assert not decoder.rejected
        assert decoder.garbage_bytes == 0
        assert decoder.buffered == 0
    marks = label_marks(parse_label("SECRET//REL TO USA, JPN"))
    relabelled = render_event(decode_event(spaced.replace(b"<detail/>", b"")), marks)
    assert decode_event(relabelled).trilat_label == "SECRET//REL TO USA, JPN"
    assert b"<__trilat" in relabelled
    assert relabelled.endswith(b"</event \r\n\t>")


def test_a_malformed_end_tag_refuses_only_its_own_event() -> None:
    decoder = CotStreamDecoder()
    broken = event_bytes("broken").replace(b"</event>", b"</event x>")
    events = decoder.feed(broken + event_bytes("fine"))
    assert [e.uid for e in events] == ["fine"]
    assert decoder.rejected["malformed"] == 1


def test_several_events_per_read_and_garbage_between_them_resynchronise() -> None:
    decoder = CotStreamDecoder()
    stream = (
        b"\r\n  "
        + event_bytes("a")
        + b"GARBAGE<html><body>"
        + event_bytes("b")
        + b"\x00\xff"
        + b"<eventually/>"
        + b'<?xml version="1.0"?>\n'
        + event_bytes("c")
    )
    events = decoder.feed(stream)
    assert [e.uid for e in events] == ["a", "b", "c"]
    assert decoder.garbage_bytes == len(b"GARBAGE<html><body>") + len(b"<eventually/>") + 2
    assert not decoder.rejected


def test_a_label_is_written_into_access_and_the_trilat_detail_keeping_unknown_detail() -> None:
    bench = b'<__bench r="run" p="0" s="12" t="123"/>'
    event = decode_event(
        event_bytes("t1", b"<detail>" + bench + b"<remarks>a &lt; b</remarks></detail>")
    )
    marks = label_marks(parse_label("SECRET//REL TO KOR, USA, JPN", owner="USA"))
    out = render_event(event, marks)
    again = decode_event(out)
    assert again.access == "SECRET//REL TO USA, JPN, KOR"
    assert again.trilat_label == "SECRET//REL TO USA, JPN, KOR"
    assert bench in out
    assert b"<remarks>a &lt; b</remarks>" in out
    assert out.count(b"__trilat") == 1
    assert (again.uid, again.lat, again.stale) == (event.uid, event.lat, event.stale)


@pytest.mark.parametrize(
    "detail",
    [
        b"<detail/>",
        b"<detail />",
        b"",
        b"<detail></detail>",
        b'<detail><__trilat label="UNCLASSIFIED"/></detail>',
        b'<detail><__trilat label="TOP SECRET//NOFORN"></__trilat><contact callsign="X"/></detail>',
        b'<detail><__trilat label="A"/><x/><__trilat label="B" /></detail>',
        b"<detail><remarks><![CDATA[</detail> <x>]]></remarks><!-- </detail> --></detail>",
        b"<detail><x><detail></detail></x></detail><!-- </detail> -->",
        b'<detail><__trilat label="A"><!-- </__trilat> --></__trilat></detail>',
        b'<detail a="/>"/>',
    ],
    ids=[
        "empty",
        "empty-spaced",
        "absent",
        "open-close",
        "marked",
        "marked-long",
        "twice",
        "cdata-and-comment",
        "nested-detail",
        "commented-mark",
        "quoted-close",
    ],
)
def test_outbound_marks_replace_incoming_ones_whatever_the_detail_shape(detail: bytes) -> None:
    event = decode_event(event_bytes("t2", detail, extra=' access="Undefined"'))
    out = render_event(event, label_marks(parse_label("CONFIDENTIAL//REL TO USA, KOR")))
    again = decode_event(out)
    assert again.access == "CONFIDENTIAL//REL TO USA, KOR"
    assert again.trilat_label == "CONFIDENTIAL//REL TO USA, KOR"
    assert out.count(b"__trilat") == 1
    assert out.count(b"access=") == 1
    assert again.callsign == event.callsign


REFUSALS = [
    ("not-well-formed", event_bytes("x", b"<detail><a></b></detail>"), "malformed"),
    ("undefined-entity", event_bytes("x", b"<detail>&lol;</detail>"), "malformed"),
    (
        "entity-bomb",
        b'<event><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<detail>&lol2;</detail></event>",
        "malformed",
    ),
    (
        "external-entity",
        b'<event version="2.0"><detail><x a="&xxe;"/></detail></event>',
        "malformed",
    ),
    (
        "deeply-nested",
        event_bytes("x", b"<detail>" + b"<a>" * 40 + b"</a>" * 40 + b"</detail>"),
        "too-deep",
    ),
    ("comment-hides-end", event_bytes("x", b"<detail><!-- </event> --></detail>"), "malformed"),
    ("cdata-hides-end", event_bytes("x", b"<detail><![CDATA[</event>]]></detail>"), "malformed"),
    ("quote-hides-end", b'<event version="2.0" uid="</event>', "malformed"),
    ("namespaced", event_bytes("x", extra=' xmlns="urn:other"'), "malformed"),
    ("two-in-one", b'<event version="2.0"/><event version="2.0"></event>', "malformed"),
    ("cot-1.0", event_bytes("x").replace(b'version="2.0"', b'version="1.0"'), "invalid"),
    ("no-uid", event_bytes("").replace(b'uid=""', b""), "invalid"),
    (
        "no-point",
        event_bytes("x").replace(b'<point lat="37.5" lon="129.1" hae="0" ce="50" le="50"/>', b""),
        "invalid",
    ),
    ("lat-out-of-range", event_bytes("x").replace(b'lat="37.5"', b'lat="91"'), "invalid"),
    ("lat-nan", event_bytes("x").replace(b'lat="37.5"', b'lat="nan"'), "invalid"),
    ("hae-inf", event_bytes("x").replace(b'hae="0"', b'hae="inf"'), "invalid"),
    (
        "naive-time",
        event_bytes("x").replace(b'time="2026-11-28T12:00:00Z"', b'time="2026-11-28T12:00:00"'),
        "invalid",
    ),
    (
        "bad-stale",
        event_bytes("x").replace(b'stale="2026-11-28T12:05:00Z"', b'stale="soon"'),
        "invalid",
    ),
    ("bad-utf8", event_bytes("x", b"<detail><remarks>\xff\xfe</remarks></detail>"), "malformed"),
]


@pytest.mark.parametrize(("name", "data", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_hostile_or_broken_event_is_refused_counted_and_the_next_one_still_decodes(
    name: str, data: bytes, reason: str
) -> None:
    decoder = CotStreamDecoder()
    events = decoder.feed(data + event_bytes("good-1"))
    events += decoder.feed(event_bytes("good-2"))
    assert [e.uid for e in events] == ["good-1", "good-2"]
    assert decoder.rejected == {reason: 1}, decoder.last_error
    with pytest.raises(DecodeError, match=reason):
        decode_event(data)


def test_oversize_event_is_refused_without_holding_it_in_memory() -> None:
    decoder = CotStreamDecoder(CotLimits(max_event_bytes=4096))
    decoder.feed(b'<event version="2.0" uid="huge"><detail><remarks>')
    peak = 0
    for _ in range(1000):  # 1 MB of remarks that never close
        decoder.feed(b"x" * 1024)
        peak = max(peak, decoder.buffered)
    events = decoder.feed(b"</remarks></detail></event>" + event_bytes("after"))
    assert [e.uid for e in events] == ["after"]
    assert decoder.rejected == {"oversize": 1}
    assert peak <= 4096 + 1024


def test_complete_but_oversize_event_is_refused() -> None:
    decoder = CotStreamDecoder(CotLimits(max_event_bytes=600))
    big = event_bytes("big", b"<detail><remarks>" + b"y" * 1000 + b"</remarks></detail>")
    assert [e.uid for e in decoder.feed(big + event_bytes("ok"))] == ["ok"]
    assert decoder.rejected == {"oversize": 1}


def test_format_event_writes_an_event_that_decodes_back() -> None:
    at = datetime(2023, 12, 19, 4, 5, 6, 789000, tzinfo=UTC)
    data = format_event(
        uid='track "7" <DPRK>',
        type="a-h-A-M-F",
        time=at,
        stale=at.replace(minute=15),
        lat=39.0,
        lon=125.75,
        hae=12000.5,
        detail=b'<contact callsign="K&amp;J"/>',
        label=parse_label("SECRET//REL TO USA, JPN, KOR", owner="USA"),
    )
    event = decode_event(data)
    assert event.uid == 'track "7" <DPRK>'
    assert (event.time, event.stale.minute) == (at, 15)
    assert (event.lat, event.lon, event.hae) == (39.0, 125.75, 12000.5)
    assert event.callsign == "K&J"
    assert event.trilat_label == event.access == "SECRET//REL TO USA, JPN, KOR"


def test_decode_event_refuses_trailing_garbage_and_incomplete_input() -> None:
    with pytest.raises(DecodeError, match="outside the CoT event"):
        decode_event(event_bytes("x") + b"junk")
    with pytest.raises(DecodeError, match="incomplete"):
        decode_event(event_bytes("x")[:-3])
    with pytest.raises(DecodeError, match="expected one"):
        decode_event(b"   ")


def test_cot_times_need_an_offset() -> None:
    assert parse_cot_time("2019-07-23T00:33:00.5+09:00") == datetime(
        2019, 7, 22, 15, 33, 0, 500000, tzinfo=UTC
    )
    with pytest.raises(DecodeError, match="offset"):
        parse_cot_time("2019-07-23T00:33:00")


@pytest.mark.parametrize(
    ("cot_type", "topic"),
    [
        ("a-h-A-M-F", "air.track"),
        ("a-u-S-X", "maritime.track"),
        ("a-f-U", "maritime.track"),
        ("a-f-G-U-C", "track"),
        ("b-t-f", "track"),
    ],
)
def test_topic_follows_the_battle_dimension(cot_type: str, topic: str) -> None:
    assert topic_for_type(cot_type) == topic


def test_flow_tags_record_each_relay_an_event_passed_through() -> None:
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    marks = label_marks(parse_label("UNCLASSIFIED"))
    fresh = decode_event(
        render_event(decode_event(event_bytes("f1")), marks, flow_tag_attribute("trilat-a", at))
    )
    assert fresh.flow_tags == ("trilat-a",)
    tagged = event_bytes(
        "f2", b'<detail><_flow-tags_ TAK-Server-1="2026-11-28T11:59:00Z"/></detail>'
    )
    twice = decode_event(
        render_event(decode_event(tagged), marks, flow_tag_attribute("trilat-b", at))
    )
    assert set(twice.flow_tags) == {"TAK-Server-1", "trilat-b"}
    assert twice.detail().find("_flow-tags_").get("trilat-b") == "2026-11-28T12:00:00.000Z"
    with pytest.raises(ValueError, match="XML name"):
        flow_tag_attribute('x="1" y', at)


def test_long_streams_rotate_the_parser_without_losing_offsets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("trilat.adapters.cot._PARSER_BYTES", 2000)
    decoder = CotStreamDecoder()
    one = event_bytes(
        "r", b'<detail><__trilat label="UNCLASSIFIED"/><contact callsign="C"/></detail>'
    )
    marks = label_marks(parse_label("SECRET//REL TO USA, KOR", owner="USA"))
    for _ in range(50):
        for event in decoder.feed(one * 3):
            again = decode_event(render_event(event, marks))
            assert again.trilat_label == "SECRET//REL TO USA, KOR"
            assert again.callsign == "C"
    assert decoder.accepted == 150


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[str], list[bytes]]:
    """Valid events with noise between them, cut into arbitrary reads."""
    uids = draw(st.lists(st.text(alphabet="abcXYZ019-_.:", min_size=1, max_size=12), max_size=8))
    noise = st.one_of(
        st.just(b""),
        st.just(b"\n"),
        st.just(b'<?xml version="1.0" encoding="UTF-8"?>\n'),
        st.binary(max_size=40).map(lambda b: b.replace(b"<", b"")),
    )
    stream = b"".join(draw(noise) + event_bytes(uid) for uid in uids) + draw(noise)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return uids, reads


@settings(max_examples=150, deadline=None)
@given(streams())
def test_framing_finds_every_event_whatever_the_reads_and_the_noise(
    case: tuple[list[str], list[bytes]],
) -> None:
    uids, reads = case
    decoder = CotStreamDecoder()
    found = [event.uid for chunk in reads for event in decoder.feed(chunk)]
    assert found == uids
    assert not decoder.rejected


def test_fields_of_a_marked_event_do_not_leak_into_the_next_plain_one() -> None:
    marked = event_bytes(
        "m1",
        b'<detail><__trilat label="UNCLASSIFIED"/><marti><dest callsign="A" uid="u-a"/></marti>'
        b'<link uid="l-1"/><_flow-tags_ relay-a="2026-11-28T12:00:00Z"/></detail>',
    )
    empty = event_bytes("e1")
    plain = event_bytes("p1", b'<detail><contact callsign="P"/></detail>')
    decoder = CotStreamDecoder()
    first, second, third = decoder.feed(marked + empty + plain)
    assert first.trilat_label == "UNCLASSIFIED"
    assert (first.dest_callsigns, first.dest_uids, first.link_uids) == (("A",), ("u-a",), ("l-1",))
    assert first.flow_tags == ("relay-a",)
    assert (second.trilat_label, second.callsign, second.flow_tags) == (None, None, ())
    assert second._detail_span is not None
    assert (third.trilat_label, third.dest_callsigns, third.link_uids) == (None, (), ())
    assert (third._strip, third._detail_span, third._flow_at) == ((), None, -1)
    assert third.callsign == "P"


@pytest.mark.parametrize("max_depth", [1, 2, 3, 4])
def test_a_small_depth_cap_refuses_exactly_the_events_deeper_than_it(max_depth: int) -> None:
    shallow = b'<event version="2.0" uid="s" type="a-h-S"></event>'  # depth 1
    deep = event_bytes("d", b"<detail><a><b><c/></b></a></detail>")  # depth 5
    decoder = CotStreamDecoder(CotLimits(max_depth=max_depth))
    decoder.feed(shallow + deep + event_bytes("ok", b"<detail/>"))
    assert decoder.rejected["too-deep"] == 1 + (max_depth < 2)
    assert decoder.rejected["invalid"] == 1  # the shallow event has no point
    assert decoder.accepted == (1 if max_depth >= 2 else 0)
