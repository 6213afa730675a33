"""Synthetic AIS traffic with planted encounters, loiterers and dark periods at known times.

Deterministic by seed. Vessels sail great-circle legs between real North-East Asian ports at
10–20 kn and dwell in port (berths and anchorages within 4 km of the port, so ships lie side
by side there); each vessel reports at its own mean interval with ±50 % jitter and has
occasional reception outages of 1–4 h. Planted behaviour happens near open-Pacific sites
(east of 144° E, more than 60 nm from any coast, each event within 0.4° of its site):

* **encounters** — two vessels sail to a site, drift together 60–300 m apart at under 1 kn
  for 2.75–3.5 h (short of the 4 h loitering rule), then leave; they report at least every
  8 min on average, so the event stays detectable after resampling;
* **loiterers** — a vessel drifts at a site at under 1.2 kn for 5–12 h;
* **dark periods** — a vessel on a leg between two sites stops reporting for 13–16 h
  (``possible_disabling`` expected), or in port for 13–20 h (not disabling).

The returned :class:`Truth` lists what was planted; gap truth uses the actual bracketing report
times. No IO; imports only numpy and the analytics package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from trilat.analytics.maritime.geo import EARTH_RADIUS_KM, haversine_km
from trilat.analytics.maritime.params import KNOT_KM_PER_SECOND
from trilat.analytics.maritime.positions import Positions

PORTS: Final[dict[str, tuple[float, float]]] = {
    "Busan": (35.095, 129.045),
    "Incheon": (37.455, 126.600),
    "Shanghai-Yangshan": (30.625, 122.065),
    "Qingdao": (36.075, 120.310),
    "Dalian": (38.930, 121.655),
    "Tianjin": (38.975, 117.790),
    "Tokyo": (35.620, 139.780),
    "Kobe": (34.670, 135.205),
    "Nagoya": (35.050, 136.850),
    "Vladivostok": (43.105, 131.885),
    "Kaohsiung": (22.600, 120.285),
    "Keelung": (25.150, 121.745),
    "Ningbo": (29.935, 121.850),
    "Xiamen": (24.455, 118.075),
    "Hakata": (33.610, 130.395),
    "Niigata": (37.945, 139.060),
    "Sendai": (38.270, 141.030),
    "Tomakomai": (42.630, 141.630),
    "Ulsan": (35.500, 129.390),
    "Gwangyang": (34.900, 127.700),
    "Pyeongtaek": (36.970, 126.830),
    "Mokpo": (34.780, 126.380),
    "Yokkaichi": (34.960, 136.640),
    "Chiba": (35.570, 140.070),
    "Hiroshima": (34.350, 132.460),
    "Kitakyushu": (33.930, 130.930),
    "Nagasaki": (32.740, 129.870),
    "Kagoshima": (31.580, 130.570),
    "Naha": (26.220, 127.670),
    "Hakodate": (41.780, 140.710),
    "Lianyungang": (34.740, 119.450),
    "Rizhao": (35.380, 119.560),
    "Yantai": (37.560, 121.400),
    "Nakhodka": (42.800, 132.890),
}
"""Port positions (degrees): each within 5 km of the coastline; berths lie within 4 km."""

SITES: Final[tuple[tuple[float, float], ...]] = (
    (30.0, 146.0),
    (32.5, 149.0),
    (35.0, 152.0),
    (27.5, 150.5),
    (25.0, 146.5),
    (38.0, 150.0),
    (40.0, 147.5),
    (22.5, 148.0),
    (29.0, 153.0),
    (33.5, 145.5),
)
"""Open-Pacific planting sites, more than 60 nm from any coast."""

PLANTED_INTERVAL_S: Final = 480.0
"""Longest mean reporting interval of a vessel in a planted encounter or loitering: the
10-minute resampling blurs each end of an event by up to one interval, and a planted event must
stay detectable by the rules it is planted for (an encounter lasts 2.75–3.5 h against 2 h)."""


@dataclass
class Truth:
    """What the generator planted (epoch seconds)."""

    encounters: list[tuple[int, int, int, int]] = field(default_factory=list)  # a<b, start, end
    loitering: list[tuple[int, int, int]] = field(default_factory=list)  # mmsi, start, end
    dark: list[tuple[int, int, int, bool]] = field(default_factory=list)  # mmsi, off, on, disabling
    gaps: list[tuple[int, int, int, bool]] = field(default_factory=list)  # from report times


@dataclass
class _Stop:
    lat: float
    lon: float
    arrive: float
    depart: float
    drift_knots: float
    partner_offset: tuple[float, float] | None = None


def _slerp(
    lat1: float, lon1: float, lat2: float, lon2: float, f: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    p1, l1, p2, l2 = np.radians([lat1, lon1, lat2, lon2])
    a = np.array([np.cos(p1) * np.cos(l1), np.cos(p1) * np.sin(l1), np.sin(p1)])
    b = np.array([np.cos(p2) * np.cos(l2), np.cos(p2) * np.sin(l2), np.sin(p2)])
    omega = np.arccos(np.clip(a @ b, -1.0, 1.0))
    if omega < 1e-12:
        return np.full(len(f), lat1), np.full(len(f), lon1)
    v = (np.sin((1 - f) * omega)[:, None] * a + np.sin(f * omega)[:, None] * b) / np.sin(omega)
    return np.degrees(np.arcsin(np.clip(v[:, 2], -1, 1))), np.degrees(np.arctan2(v[:, 1], v[:, 0]))


def _offset(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    dlat = np.degrees(north_km / EARTH_RADIUS_KM)
    dlon = np.degrees(east_km / (EARTH_RADIUS_KM * np.cos(np.radians(lat))))
    return float(lat + dlat), float(lon + dlon)


class _Builder:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.t: list[float] = []
        self.lat: list[float] = []
        self.lon: list[float] = []

    def add(self, t: float, lat: float, lon: float) -> None:
        if self.t and t <= self.t[-1]:
            t = self.t[-1] + 1.0
        self.t.append(t)
        self.lat.append(lat)
        self.lon.append(lon)

    def stop(
        self, s: _Stop, walk: list[tuple[float, float, float]] | None = None
    ) -> list[tuple[float, float, float]]:
        """Drift around a stop; returns the walk so a partner can follow it."""
        if walk is None:
            walk = []
            lat, lon = s.lat, s.lon
            t = s.arrive
            while t < s.depart:
                walk.append((t, lat, lon))
                step = min(1800.0, s.depart - t)
                km = self.rng.uniform(0.2, 1.0) * s.drift_knots * KNOT_KM_PER_SECOND * step
                bearing = self.rng.uniform(0, 2 * np.pi)
                lat, lon = _offset(lat, lon, km * np.cos(bearing), km * np.sin(bearing))
                t += step
            walk.append((s.depart, lat, lon))
        north, east = s.partner_offset or (0.0, 0.0)
        for t, lat, lon in walk:
            la, lo = _offset(lat, lon, north, east)
            self.add(t, la, lo)
        return walk

    def leg(self, lat1: float, lon1: float, t1: float, lat2: float, lon2: float, t2: float) -> None:
        km = float(haversine_km(lat1, lon1, lat2, lon2))
        n = max(int(km / 40.0), 1)
        f = np.arange(1, n) / n
        la, lo = _slerp(lat1, lon1, lat2, lon2, f)
        for fi, a, o in zip(f.tolist(), la.tolist(), lo.tolist(), strict=True):
            self.add(t1 + fi * (t2 - t1), a, o)


def _sail_seconds(lat1: float, lon1: float, lat2: float, lon2: float, knots: float) -> float:
    return float(haversine_km(lat1, lon1, lat2, lon2)) / (knots * KNOT_KM_PER_SECOND)


def generate(
    *,
    vessels: int = 200,
    days: float = 3.0,
    start: int = 1_700_006_400,  # 2023-11-15T00:00:00Z
    seed: int = 1,
    mean_interval_s: float = 600.0,
    encounters: int = 4,
    loiterers: int = 4,
    dark_offshore: int = 3,
    dark_in_port: int = 2,
) -> tuple[Positions, Truth]:
    """Traffic of *vessels* ships over *days*; returns positions in time order and the truth."""
    rng = np.random.default_rng(seed)
    end = start + int(days * 86400)
    names = list(PORTS)
    mmsis = rng.choice(np.arange(100_000, 999_999), size=vessels, replace=False) + 412_000_000
    mmsis = np.sort(mmsis).astype(np.int64)
    truth = Truth()
    planted = encounters * 2 + loiterers + dark_offshore + dark_in_port
    if planted > vessels:
        raise ValueError("more planted vessels than vessels")
    roles = ["enc"] * (encounters * 2) + ["loiter"] * loiterers + ["dark"] * dark_offshore
    roles += ["port-dark"] * dark_in_port
    roles += ["normal"] * (vessels - planted)
    span = end - start
    out_m: list[NDArray[np.int64]] = []
    out_t: list[NDArray[np.int64]] = []
    out_la: list[NDArray[np.float64]] = []
    out_lo: list[NDArray[np.float64]] = []
    rounds = (encounters + loiterers + dark_offshore) // len(SITES) + 1
    site_cycle = [SITES[i] for _ in range(rounds) for i in rng.permutation(len(SITES))]
    k = 0
    while k < vessels:
        role = roles[k]
        interval = float(np.clip(rng.lognormal(np.log(mean_interval_s), 0.5), 30.0, 3600.0))
        if role in ("enc", "loiter"):
            interval = min(interval, PLANTED_INTERVAL_S)
        if role == "enc":
            site = _site(rng, site_cycle.pop())
            t0 = start + rng.uniform(0.25, 0.6) * span
            duration = rng.uniform(2.75, 3.5) * 3600
            dist_km = rng.uniform(0.06, 0.3)
            bearing = rng.uniform(0, 2 * np.pi)
            offset = (dist_km * np.cos(bearing), dist_km * np.sin(bearing))
            stop = _Stop(site[0], site[1], t0, t0 + duration, 0.8)
            shared: list = [None]
            for j, off in ((k, None), (k + 1, offset)):
                b = _Builder(rng)
                s = _Stop(stop.lat, stop.lon, stop.arrive, stop.depart, stop.drift_knots, off)
                _itinerary(b, rng, names, s, start, end, shared)
                _emit(b, rng, int(mmsis[j]), interval, start, end, (), out_m, out_t, out_la, out_lo)
            truth.encounters.append((int(mmsis[k]), int(mmsis[k + 1]), int(t0), int(t0 + duration)))
            k += 2
            continue
        b = _Builder(rng)
        outages: list[tuple[float, float]] = []
        if role == "loiter":
            site = _site(rng, site_cycle.pop())
            t0 = start + rng.uniform(0.2, 0.5) * span
            duration = rng.uniform(5.0, 12.0) * 3600
            _itinerary(
                b, rng, names, _Stop(site[0], site[1], t0, t0 + duration, 1.2), start, end, [None]
            )
            truth.loitering.append((int(mmsis[k]), int(t0), int(t0 + duration)))
        elif role == "dark":
            a_site = site_cycle.pop()
            far = [s for s in SITES if float(haversine_km(*a_site, *s)) >= 900.0]
            b_site = far[int(rng.integers(len(far)))]
            t_a = start + rng.uniform(0.1, 0.25) * span
            knots = rng.uniform(8, 12)
            t_b = t_a + _sail_seconds(*a_site, *b_site, knots)
            off = t_a + rng.uniform(0.15, 0.25) * (t_b - t_a)
            length = rng.uniform(13, 16) * 3600
            outages.append((off, off + length))
            _dark_itinerary(b, rng, names, a_site, t_a, b_site, t_b, start, end)
            truth.dark.append((int(mmsis[k]), int(off), int(off + length), True))
        elif role == "port-dark":
            port = PORTS[names[int(rng.integers(len(names)))]]
            b.stop(_Stop(port[0], port[1], start - 86400, end + 86400, 0.05))
            off = start + rng.uniform(0.2, 0.5) * span
            length = rng.uniform(13, 20) * 3600
            outages.append((off, off + length))
            truth.dark.append((int(mmsis[k]), int(off), int(off + length), False))
        else:
            _normal_itinerary(b, rng, names, start, end)
            t = start + rng.uniform(0, 1) * 86400 / 0.4
            while t < end:
                length = rng.uniform(1, 4) * 3600
                outages.append((t, t + length))
                t += length + rng.uniform(0.5, 3) * 86400
        _emit(b, rng, int(mmsis[k]), interval, start, end, outages, out_m, out_t, out_la, out_lo)
        k += 1

    m = np.concatenate(out_m)
    t = np.concatenate(out_t)
    la = np.concatenate(out_la)
    lo = np.concatenate(out_lo)
    order = np.lexsort((m, t))
    positions = Positions(m[order], t[order], la[order], lo[order])
    truth.gaps = _gap_truth(positions, truth)
    return positions, truth


def _itinerary(
    b: _Builder,
    rng: np.random.Generator,
    names: list[str],
    stop: _Stop,
    start: int,
    end: int,
    walk: list,
) -> None:
    """From a port, to the planted stop, then on to another port and onward.

    *walk* carries the drift shared by an encounter's two vessels, then the first vessel's
    departure, so that the second leaves for another port at another speed (they part).
    """
    origin = PORTS[names[int(rng.integers(len(names)))]]
    dest_name = names[int(rng.integers(len(names)))]
    knots = rng.uniform(10, 16)
    if len(walk) > 1:
        while dest_name == walk[1]:
            dest_name = names[int(rng.integers(len(names)))]
        knots = walk[2] + 4.0 if walk[2] < 13.0 else walk[2] - 4.0
    else:
        walk.extend([dest_name, knots])
    dest = PORTS[dest_name]
    t_dep = stop.arrive - _sail_seconds(*origin, stop.lat, stop.lon, knots)
    b.stop(_Stop(origin[0], origin[1], min(t_dep, start) - 3600, t_dep, 0.05))
    target = _offset(stop.lat, stop.lon, *(stop.partner_offset or (0.0, 0.0)))
    b.leg(origin[0], origin[1], t_dep, target[0], target[1], stop.arrive)
    walk[0] = b.stop(stop, walk[0])
    last = (b.lat[-1], b.lon[-1])
    t_arr = stop.depart + _sail_seconds(*last, *dest, knots)
    b.leg(last[0], last[1], stop.depart, dest[0], dest[1], t_arr)
    b.stop(_Stop(dest[0], dest[1], t_arr, max(t_arr, end) + 3600, 0.05))


def _dark_itinerary(
    b: _Builder,
    rng: np.random.Generator,
    names: list[str],
    a_site: tuple[float, float],
    t_a: float,
    b_site: tuple[float, float],
    t_b: float,
    start: int,
    end: int,
) -> None:
    origin = PORTS[names[int(rng.integers(len(names)))]]
    knots = rng.uniform(10, 16)
    t_dep = t_a - _sail_seconds(*origin, *a_site, knots)
    b.stop(_Stop(origin[0], origin[1], min(t_dep, start) - 3600, t_dep, 0.05))
    b.leg(origin[0], origin[1], t_dep, a_site[0], a_site[1], t_a)
    b.add(t_a, *a_site)
    b.leg(a_site[0], a_site[1], t_a, b_site[0], b_site[1], t_b)
    b.add(t_b, *b_site)
    dest = PORTS[names[int(rng.integers(len(names)))]]
    t_arr = t_b + _sail_seconds(*b_site, *dest, knots)
    b.leg(b_site[0], b_site[1], t_b, dest[0], dest[1], t_arr)
    b.stop(_Stop(dest[0], dest[1], t_arr, max(t_arr, end) + 3600, 0.05))


def _berth(rng: np.random.Generator, port: tuple[float, float]) -> tuple[float, float]:
    """A berth or anchorage position within 4 km of the port's point."""
    radius = 4.0 * np.sqrt(rng.uniform())
    bearing = rng.uniform(0, 2 * np.pi)
    return _offset(port[0], port[1], radius * np.cos(bearing), radius * np.sin(bearing))


def _site(rng: np.random.Generator, site: tuple[float, float]) -> tuple[float, float]:
    """A planting position within 0.4° of a site, so planted events do not share a spot."""
    return float(site[0] + rng.uniform(-0.4, 0.4)), float(site[1] + rng.uniform(-0.4, 0.4))


def _normal_itinerary(
    b: _Builder, rng: np.random.Generator, names: list[str], start: int, end: int
) -> None:
    here = PORTS[names[int(rng.integers(len(names)))]]
    berth = _berth(rng, here)
    t = start - rng.uniform(0, 2) * 86400
    while t < end + 3600:
        depart = t + rng.uniform(6, 48) * 3600
        b.stop(_Stop(berth[0], berth[1], t, depart, 0.05))
        nxt = here
        while nxt == here:
            nxt = PORTS[names[int(rng.integers(len(names)))]]
        new_berth = _berth(rng, nxt)
        arrive = depart + _sail_seconds(*berth, *new_berth, rng.uniform(10, 20))
        b.leg(berth[0], berth[1], depart, new_berth[0], new_berth[1], arrive)
        here, berth, t = nxt, new_berth, arrive


def _emit(
    b: _Builder,
    rng: np.random.Generator,
    mmsi: int,
    interval: float,
    start: int,
    end: int,
    outages: list[tuple[float, float]] | tuple[()],
    out_m: list[NDArray[np.int64]],
    out_t: list[NDArray[np.int64]],
    out_la: list[NDArray[np.float64]],
    out_lo: list[NDArray[np.float64]],
) -> None:
    count = int((end - start) / interval * 1.2) + 10
    steps = interval * rng.uniform(0.5, 1.5, count)
    times = start + rng.uniform(0, interval) + np.cumsum(steps)
    times = times[times < end]
    keep = np.ones(len(times), dtype=bool)
    for off, on in outages:
        keep &= ~((times >= off) & (times < on))
    times = np.floor(times[keep])
    wt = np.asarray(b.t)
    lat = np.interp(times, wt, np.asarray(b.lat))
    lon = np.interp(times, wt, np.unwrap(np.asarray(b.lon), period=360.0))
    lon = (lon + 180.0) % 360.0 - 180.0
    noise = 0.005 / EARTH_RADIUS_KM * 180.0 / np.pi  # ≈5 m GPS scatter
    lat = lat + rng.normal(0, noise, len(times))
    lon = lon + rng.normal(0, noise, len(times)) / np.cos(np.radians(lat))
    out_m.append(np.full(len(times), mmsi, dtype=np.int64))
    out_t.append(times.astype(np.int64))
    out_la.append(lat)
    out_lo.append(lon)


def _gap_truth(p: Positions, truth: Truth) -> list[tuple[int, int, int, bool]]:
    """Every silence of ≥ 6 h in the reports; disabling where a dark period was planted at sea."""
    order = np.lexsort((p.time, p.mmsi))
    m, t = p.mmsi[order], p.time[order]
    idx = np.flatnonzero((m[1:] == m[:-1]) & (t[1:] - t[:-1] >= 6 * 3600))
    planted = {(mm, off, on): flag for mm, off, on, flag in truth.dark}
    out = []
    for i in idx.tolist():
        mm, a, z = int(m[i]), int(t[i]), int(t[i + 1])
        flag = any(pm == mm and a <= off and z >= on and f for (pm, off, on), f in planted.items())
        out.append((mm, a, z, flag and z - a >= 12 * 3600))
    return out


def dirty(
    positions: Positions, seed: int = 7, fraction: float = 0.01
) -> tuple[Positions, dict[str, int]]:
    """Damage a copy: duplicates, wild spikes, bad MMSIs, impossible positions, shuffled order.

    Returns the damaged positions and how many of each damage were added.
    """
    rng = np.random.default_rng(seed)
    n = len(positions)
    k = max(int(n * fraction), 1)
    m, t, la, lo = (
        positions.mmsi.copy(),
        positions.time.copy(),
        positions.lat.copy(),
        positions.lon.copy(),
    )
    dup = rng.choice(n, k, replace=False)
    bad_mmsi = rng.choice(n, k, replace=False)
    bad_m = rng.choice(np.array([0, 12345678, 111222333, 970123456, 992345678, 1_234_567_890]), k)
    bad_pos = rng.choice(n, k, replace=False)
    bad_la = rng.choice(np.array([91.0, -95.0, np.nan, 10.0]), k)
    bad_lo = np.where(bad_la == 10.0, 181.0, 0.0)
    # spikes: a report 2° off, between two reports of the same vessel within the spike reach
    order = np.lexsort((t, m))
    cand = (
        np.flatnonzero(
            (m[order][2:] == m[order][:-2])
            & (t[order][2:] - t[order][:-2] <= 3000)
            & (t[order][2:] - t[order][:-2] >= 4)
        )
        + 1
    )
    spikes = rng.choice(cand, min(k, len(cand) // 3), replace=False)
    spikes = np.sort(spikes)
    spikes = spikes[np.r_[True, np.diff(spikes) > 2]]  # isolated
    si = order[spikes]
    prev = order[spikes - 1]
    spike_t = (t[prev] + t[si]) // 2
    spike_t = np.where(spike_t == t[prev], spike_t + 1, spike_t)
    spike_t = np.where(spike_t >= t[order[spikes + 1]], t[prev] + 1, spike_t)
    keep_spike = (spike_t > t[prev]) & (spike_t < t[order[spikes + 1]]) & (spike_t != t[si])
    si, prev, spike_t = si[keep_spike], prev[keep_spike], spike_t[keep_spike]
    mm = np.r_[m, m[dup], bad_m, m[bad_pos], m[prev]]
    tt = np.r_[t, t[dup], t[bad_mmsi], t[bad_pos], spike_t]
    lla = np.r_[la, la[dup], la[bad_mmsi], bad_la, la[prev] + 2.0]
    llo = np.r_[lo, lo[dup], lo[bad_mmsi], bad_lo, lo[prev]]
    shuffle = rng.permutation(len(mm))
    damaged = Positions(mm[shuffle], tt[shuffle], lla[shuffle], llo[shuffle])
    return damaged, {
        "duplicate": len(dup),
        "bad_mmsi": len(bad_m),
        "impossible_position": len(bad_pos),
        "speed_spike": len(si),
    }
