"""Vessels of interest: matching by any identifier, and the four kinds of alert."""

from __future__ import annotations

import json

import pytest

from trilat.analytics.maritime.watchlist import (
    WatchArea,
    WatchEntry,
    Watchlist,
    WatchMonitor,
    normalize_name,
    watch_alerts,
)
from trilat.core.errors import DecodeError

T0 = 1_700_000_000


@pytest.mark.parametrize(
    "spelling", ["M/V Wise Honest", "MV WISE-HONEST", "m.v. wise  honest", "Wise Honest."]
)
def test_ship_names_match_after_normalisation(spelling) -> None:
    assert normalize_name(spelling) == "WISEHONEST"


def test_different_names_stay_different() -> None:
    assert normalize_name("SAM JONG 2") != normalize_name("SAM JONG 1")
    assert normalize_name("MV") == "MV"  # a bare prefix is a name, not nothing


def test_vessel_matches_by_mmsi_imo_name_or_callsign() -> None:
    listed = Watchlist(
        (
            WatchEntry("by-mmsi", mmsi=445000001),
            WatchEntry("by-imo", imo=8905490),
            WatchEntry("by-name", name="Wise Honest"),
            WatchEntry("by-callsign", callsign="HMYN 7"),
        )
    )
    monitor = WatchMonitor(listed)
    monitor.observe_static(445000002, imo=8905490)
    monitor.observe_static(445000003, name="M/V WISE HONEST@@")
    monitor.observe_static(445000004, callsign="hmyn7")
    monitor.observe_static(445000005, name="HONEST WISE", callsign="ABC")
    assert monitor.entry_for(445000001).entry_id == "by-mmsi"
    assert monitor.entry_for(445000002).entry_id == "by-imo"
    assert monitor.entry_for(445000003).entry_id == "by-name"
    assert monitor.entry_for(445000004).entry_id == "by-callsign"
    assert monitor.entry_for(445000005) is None
    assert monitor.entry_for(999999999) is None


def test_watchlist_round_trips_as_plain_data_for_an_item_body() -> None:
    listed = Watchlist(
        (WatchEntry("w1", mmsi=445000001, reason="UNSC 1718 designation"),),
        (WatchArea("nampo", "Nampo approach", ((125.0, 38.6), (125.4, 38.6), (125.4, 38.8))),),
    )
    again = Watchlist.from_dict(json.loads(json.dumps(listed.as_dict())))
    assert again == listed


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"entries": [{"id": "x"}]}, "entries[0]"),
        ({"entries": [{"id": "x", "mmsi": "abc"}]}, "mmsi"),
        ({"entries": [{"id": "x", "flag": "PRK"}]}, "flag"),
        ({"areas": [{"id": "a", "vertices": [[0, 0], [1, 1]]}]}, "areas[0]"),
        ({"areas": [{"id": "a", "vertices": [[0, 0], [1, 1], [200, 1]]}]}, "200"),
        ({"areas": [{"vertices": [[0, 0], [1, 1], [1, 0]]}]}, "'id'"),
        ({"vessels": []}, "vessels"),
    ],
)
def test_malformed_watchlist_is_refused_naming_the_field(data, named) -> None:
    with pytest.raises(DecodeError, match=named.replace("[", r"\[").replace("]", r"\]")):
        Watchlist.from_dict(data)


def test_alerts_for_appearing_entering_an_area_going_dark_and_meeting(
    traffic, batch_analysis
) -> None:
    positions, truth = traffic
    dark_mmsi = next(m for m, *_rest, flag in truth.dark if flag)
    met_a, met_b, *_ = truth.encounters[0]
    other = int(next(m for m in positions.mmsi.tolist() if m not in (dark_mmsi, met_a, met_b)))
    site_lat, site_lon = batch_analysis.encounters[0].lat, batch_analysis.encounters[0].lon
    square = ((site_lon - 0.2, site_lat - 0.2), (site_lon + 0.2, site_lat - 0.2),
              (site_lon + 0.2, site_lat + 0.2), (site_lon - 0.2, site_lat + 0.2))  # fmt: skip
    listed = Watchlist(
        (WatchEntry("dark", mmsi=dark_mmsi), WatchEntry("met", name="Wise Honest")),
        (WatchArea("site", "planted meeting point", square),),
    )
    alerts = watch_alerts(
        listed,
        positions.rows(),
        batch_analysis.results(),
        identities={met_a: {"shipname": "M/V WISE HONEST"}, other: {"shipname": "OTHER"}},
    )
    kinds = {(a["type"], a["entry"]) for a in alerts}
    assert ("watch_appeared", "dark") in kinds
    assert ("watch_appeared", "met") in kinds
    assert ("watch_dark", "dark") in kinds
    assert ("watch_encounter", "met") in kinds
    entries = [a for a in alerts if a["type"] == "watch_area_entry"]
    assert entries
    assert met_a in {a["mmsi"] for a in entries}
    assert {a["mmsi"] for a in entries} <= {met_a, dark_mmsi}  # only listed vessels
    assert all(a["mmsi"] in (dark_mmsi, met_a) for a in alerts)
    reappeared = [a for a in alerts if a["type"] == "watch_appeared" and a["entry"] == "dark"]
    assert len(reappeared) == 2  # first seen, then back after the planted dark period


def test_nothing_listed_raises_nothing(traffic, batch_analysis) -> None:
    positions, _ = traffic
    assert watch_alerts(Watchlist(), positions.rows(), batch_analysis.results()) == []
