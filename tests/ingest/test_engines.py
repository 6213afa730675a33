"""The live engines on signed envelopes: watchlist alerts, label spans, foreign-owned inputs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trilat.analytics.maritime.watchlist import Watchlist, WatchMonitor
from trilat.core._crypto import generate_private_key
from trilat.core.clock import format_time
from trilat.core.items import Envelope, Item, Originator, seal
from trilat.core.labels import Classification, Label, parse_label, roll_up
from trilat.ingest.analytics import MaritimeLive
from trilat.ingest.labels import LabelSpans, derived_label

KEY = generate_private_key()
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def _envelope(
    banner: str, body: dict[str, Any], *, nation: str = "USA", at: datetime = T0
) -> Envelope:
    item = Item("track", parse_label(banner), ("maritime.track",), body)
    return seal(item, originator=Originator(f"{nation.lower()}-1", nation), private_key=KEY, at=at)


def _position(mmsi: int, at: datetime, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {
        "uid": f"mmsi-{mmsi}",
        "type": "a-n-S",
        "point": {"lat": lat, "lon": lon},
        "time": format_time(at),
        "stale": format_time(at + timedelta(minutes=10)),
        **extra,
    }


def test_a_listed_vessel_entering_a_watched_area_becomes_a_zone_entry_by_its_name() -> None:
    watchlist = Watchlist.from_dict(
        {
            "entries": [{"id": "sanctioned-1", "name": "MV Sky Pearl", "reason": "UNSCR 2397"}],
            "areas": [
                {
                    "id": "NAMPO-APPROACH",
                    "vertices": [[124.8, 38.5], [125.4, 38.5], [125.4, 38.9], [124.8, 38.9]],
                }
            ],
        }
    )
    engine = MaritimeLive(watch=WatchMonitor(watchlist))
    outside = _envelope(
        "SECRET//REL TO USA, KOR", _position(355123000, T0, 38.2, 124.6, name="SKY PEARL")
    )
    inside = _envelope(
        "SECRET//REL TO USA, JPN, KOR",
        _position(355123000, T0 + timedelta(minutes=30), 38.7, 125.0, name="SKY PEARL"),
        at=T0 + timedelta(minutes=30),
    )
    first = engine.take(outside)
    assert [d.item.body["attributes"]["type"] for d in first] == ["watch_appeared"]
    assert first[0].item.refs == (outside.id,)
    derived = engine.take(inside)
    (entry,) = [d.item for d in derived if d.item.kind == "zone_entry"]
    assert entry.body["zone"] == "NAMPO-APPROACH"
    assert entry.body["track"] == "mmsi-355123000"
    assert entry.body["authority"] == "watchlist"
    assert entry.refs == (inside.id,)
    unowned = dataclasses.replace(inside.label, owner=None)
    assert roll_up([entry.label, unowned]) == entry.label  # at least as restrictive as its input


def test_label_spans_stay_bounded_and_never_lose_restriction() -> None:
    spans = LabelSpans(max_spans=2)
    banners = [
        "UNCLASSIFIED",
        "SECRET//REL TO USA, JPN, KOR",
        "SECRET//REL TO USA, JPN",
        "CONFIDENTIAL//REL TO USA, KOR",
    ]
    for hour, banner in enumerate(banners):
        spans.note("ship", parse_label(banner, owner="USA"), 3600.0 * hour)
    kept = spans.labels("ship", 0.0, 4 * 3600.0, 0.0)
    assert len(kept) == 2
    everything = roll_up([parse_label(b, owner="USA") for b in banners])
    assert roll_up(kept) == everything  # merged spans roll up: nothing was loosened
    assert spans.labels("ship", 10 * 3600.0, 11 * 3600.0, 0.0) == kept  # none in window: all


def test_a_derived_label_drops_a_foreign_owner_so_the_node_can_seal_it() -> None:
    jpn = parse_label("SECRET//REL TO USA, JPN", owner="JPN")
    usa = parse_label("CONFIDENTIAL//REL TO USA, JPN, KOR", owner="USA")
    label = derived_label([jpn, usa])
    assert label.owner is None
    assert label.classification is Classification.SECRET
    assert label.rel_to == frozenset({"USA", "JPN"})
    sealed = seal(
        Item("encounter", label, ("maritime.encounter",), {"type": "encounter"}),
        originator=Originator("usa-1", "USA"),
        private_key=KEY,
        at=T0,
    )
    assert sealed.label == Label(Classification.SECRET, frozenset({"USA", "JPN"}), owner="USA")


@pytest.mark.parametrize("uid", ["mmsi-abc", "track-7", "mmsi-"])
def test_tracks_without_an_mmsi_uid_are_not_fed_to_the_vessel_engine(uid: str) -> None:
    engine = MaritimeLive()
    body = {**_position(1, T0, 10.0, 10.0), "uid": uid}
    assert engine.take(_envelope("UNCLASSIFIED", body)) == []
    assert engine.positions == 0
