"""The streaming engine: the batch engine's rules applied report by report, in bounded memory.

Input is position reports ``(mmsi, epoch_seconds, lat, lon)`` in time order; a small reorder
buffer (``reorder_seconds``) absorbs feed jitter, and a report older than what has already
been released is dropped and counted ``late``. State is kept per vessel (the previous,
pending and last accepted report, the current slow chain), per grid slot still open (the
lookahead of ``MaritimeParameters.lookahead_seconds``: a spike decision and an
interpolation), and per pair of vessels that were recently close (open run and merge group,
held ``encounter_merge_seconds``). Nothing grows with the length of the stream.

Each result is handed to ``sink`` as soon as it is final; on the same input the set of results
equals the batch engine's (the tests prove it on generated traffic). Time comes only from
the reports: the watermark is the newest report released.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from trilat.analytics.maritime.batch import Analysis
from trilat.analytics.maritime.clean import MID_FIRST, MID_LAST, step_speed_knots
from trilat.analytics.maritime.encounters import RawRun, close_pairs, summarize
from trilat.analytics.maritime.events import AisGap, Encounter, Loitering, Result
from trilat.analytics.maritime.gaps import disabling_ends_offshore, is_joint_silence
from trilat.analytics.maritime.geo import haversine_km
from trilat.analytics.maritime.loitering import offshore_flags, runs_from_chain
from trilat.analytics.maritime.params import (
    DEFAULT_PARAMETERS,
    KNOT_KM_PER_SECOND,
    MaritimeParameters,
)
from trilat.analytics.maritime.shore import ShoreModel, default_shore_model

Report = tuple[int, float, float, float]  # (time, lat, lon, knots from the raw report before)


@dataclass(slots=True)
class _Vessel:
    last_raw: int | None = None  # time of the last de-duplicated report
    newest_arrival: int | None = None
    previous: Report | None = None  # raw neighbour before the pending report
    pending: Report | None = None  # awaiting its spike decision
    accepted: Report | None = None  # last accepted report
    on_grid_done: bool = False  # its on-grid position has been emitted
    spike_since_accept: bool = False  # a spike was dropped after the last accepted report
    chain_slots: list[int] = field(default_factory=list)
    chain_lat: list[float] = field(default_factory=list)
    chain_lon: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Run:
    slots: list[int] = field(default_factory=list)
    dist: list[float] = field(default_factory=list)
    lat_a: list[float] = field(default_factory=list)
    lon_a: list[float] = field(default_factory=list)
    lat_b: list[float] = field(default_factory=list)
    lon_b: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _Pair:
    run: _Run | None = None
    group: list[RawRun] = field(default_factory=list)

    def group_end(self) -> int:
        return max(r.end_slot for r in self.group)


class StreamAnalyzer:
    """Feed reports with :meth:`push`; call :meth:`finish` at the end of the input."""

    def __init__(
        self,
        sink: Callable[[Result], None] | None = None,
        *,
        shore: ShoreModel | None = None,
        params: MaritimeParameters = DEFAULT_PARAMETERS,
        reorder_seconds: int = 300,
        keep_results: bool = True,
    ) -> None:
        self.params = params
        self.shore = shore if shore is not None else default_shore_model()
        self.analysis = Analysis()
        self._sink = sink
        self._reorder = reorder_seconds
        self._keep = keep_results  # False: results only go to the sink (memory stays bounded)
        self._buffer: list[tuple[int, int, int, float, float]] = []
        self._seq = 0
        self._newest_arrival: int | None = None
        self._watermark: int | None = None
        self._vessels: dict[int, _Vessel] = {}
        self._deadlines: list[tuple[int, int]] = []  # (time pending decision is due, mmsi)
        self._slots: dict[int, dict[int, tuple[float, float]]] = {}
        self._on_grid: dict[int, set[int]] = {}  # slot -> vessels whose last report sits on it
        self._next_slot: int | None = None
        self._present_before: set[int] = set()
        self._pairs: dict[tuple[int, int], _Pair] = {}
        self._pairs_of: dict[int, set[tuple[int, int]]] = {}
        self._group_deadlines: list[tuple[int, tuple[int, int]]] = []
        self._gaps_waiting: list[tuple[int, AisGap]] = []  # (slot when decidable, gap)
        self._encounters_of: dict[int, list[Encounter]] = {}
        self._seen_vessels: set[int] = set()

    # ------------------------------------------------------------------ input
    def push(self, mmsi: int, time: int, lat: float, lon: float) -> None:
        """Take one report (epoch seconds, degrees)."""
        clean = self.analysis.clean
        clean.input += 1
        mid = mmsi // 1_000_000
        if not (100_000_000 <= mmsi <= 999_999_999 and MID_FIRST <= mid <= MID_LAST):
            clean.bad_mmsi += 1
            return
        if not (
            math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90.0 and abs(lon) <= 180.0
        ):
            clean.impossible_position += 1
            return
        vessel = self._vessel(mmsi)
        if vessel.newest_arrival is not None and time < vessel.newest_arrival:
            clean.out_of_order += 1
        vessel.newest_arrival = (
            time if vessel.newest_arrival is None else max(vessel.newest_arrival, time)
        )
        self._newest_arrival = (
            time if self._newest_arrival is None else max(self._newest_arrival, time)
        )
        heapq.heappush(self._buffer, (time, self._seq, mmsi, lat, lon))
        self._seq += 1
        while self._buffer and self._buffer[0][0] <= self._newest_arrival - self._reorder:
            self._release(heapq.heappop(self._buffer))

    def finish(self) -> Analysis:
        """End of input: decide everything still open and return the whole analysis."""
        while self._buffer:
            self._release(heapq.heappop(self._buffer))
        for mmsi, vessel in self._vessels.items():
            if vessel.pending is not None:
                self._decide(mmsi, vessel, None)
        if self._watermark is not None:
            last = max([*self._slots, *self._on_grid], default=-1)
            self._finalize_until(max(last, (self._watermark // self.params.resample_seconds)) + 1)
        for mmsi in list(self._vessels):
            self._end_chain(mmsi)
        for key, pair in list(self._pairs.items()):
            self._close_run(key, pair)
        for key, pair in list(self._pairs.items()):
            self._close_group(key, pair)
        for _, gap in self._gaps_waiting:
            self._emit_gap(gap)
        self._gaps_waiting = []
        self.analysis.vessels = len(self._seen_vessels)
        return self.analysis

    # -------------------------------------------------------------- cleaning
    def _vessel(self, mmsi: int) -> _Vessel:
        vessel = self._vessels.get(mmsi)
        if vessel is None:
            vessel = self._vessels[mmsi] = _Vessel()
        return vessel

    def _release(self, item: tuple[int, int, int, float, float]) -> None:
        time, _, mmsi, lat, lon = item
        if self._watermark is not None and time < self._watermark - 0:
            self.analysis.clean.late += 1
            return
        self._advance(time)
        vessel = self._vessels[mmsi]
        if vessel.last_raw is not None and time <= vessel.last_raw:
            if time == vessel.last_raw:
                self.analysis.clean.duplicate += 1
            else:
                self.analysis.clean.late += 1
            return
        before = vessel.pending if vessel.pending is not None else vessel.previous
        knots = (
            -1.0 if before is None else self._knots(before[0], before[1], before[2], time, lat, lon)
        )
        vessel.last_raw = time
        report = (time, lat, lon, knots)
        if vessel.pending is not None:
            self._decide(mmsi, vessel, report)
        vessel.pending = report
        heapq.heappush(self._deadlines, (time + self.params.max_interpolation_gap_seconds, mmsi))

    def _advance(self, time: int) -> None:
        """Move the watermark: time out pending decisions, finalize slots no report can change."""
        self._watermark = time
        gap = self.params.max_interpolation_gap_seconds
        while self._deadlines and self._deadlines[0][0] < time:
            due, mmsi = heapq.heappop(self._deadlines)
            vessel = self._vessels[mmsi]
            if vessel.pending is not None and vessel.pending[0] + gap == due:
                self._decide(mmsi, vessel, None)
        step = self.params.resample_seconds
        limit = (time - self.params.lookahead_seconds - 1) // step  # slots <= limit are final
        self._finalize_until(limit + 1)

    @staticmethod
    def _knots(t0: int, lat0: float, lon0: float, t1: int, lat1: float, lon1: float) -> float:
        """Implied speed, computed exactly as the batch engine does (numpy, same kernels)."""
        return float(
            step_speed_knots(
                np.array([lat0]),
                np.array([lon0]),
                np.array([t0]),
                np.array([lat1]),
                np.array([lon1]),
                np.array([t1]),
            )[0]
        )

    def _decide(self, mmsi: int, vessel: _Vessel, following: Report | None) -> None:
        """Spike decision for the pending report, given the report after it (or none in reach)."""
        pending = vessel.pending
        if pending is None:
            return
        limit = self.params.max_speed_knots
        spike = (
            vessel.previous is not None
            and following is not None
            and following[0] - pending[0] <= self.params.max_interpolation_gap_seconds
            and pending[3] > limit
            and following[3] > limit
        )
        vessel.previous = pending
        vessel.pending = None
        if spike:
            self.analysis.clean.speed_spike += 1
            vessel.spike_since_accept = True
            return
        self._accept(mmsi, vessel, pending)

    # ------------------------------------------------------------ resampling
    def _accept(self, mmsi: int, vessel: _Vessel, report: Report) -> None:
        clean = self.analysis.clean
        clean.kept += 1
        self._seen_vessels.add(mmsi)
        step = self.params.resample_seconds
        last = vessel.accepted
        if last is not None:
            if not vessel.spike_since_accept:
                knots = report[3]
            else:
                knots = self._knots(last[0], last[1], last[2], report[0], report[1], report[2])
            jump = knots > self.params.max_speed_knots
            clean.speed_jump += jump
            dt = report[0] - last[0]
            if dt >= self.params.gap_record_seconds:
                self._gap(mmsi, last, report)
            if dt <= self.params.max_interpolation_gap_seconds and not jump:
                first = -((-last[0]) // step)
                final = (report[0] - 1) // step
                span = float(report[0] - last[0])
                delta = (report[2] - last[2] + 180.0) % 360.0 - 180.0
                for slot in range(first, final + 1):
                    # the same IEEE operations as resample.py and geo.interpolate_lon
                    mix = (slot * step - last[0]) / span
                    lat = last[1] + (report[1] - last[1]) * mix
                    lon = (last[2] + delta * mix + 180.0) % 360.0 - 180.0
                    self._slots.setdefault(slot, {})[mmsi] = (lat, lon)
                vessel.on_grid_done = True  # the on-grid case is covered by the interpolation
            elif last[0] % step == 0 and not vessel.on_grid_done:
                self._slots.setdefault(last[0] // step, {})[mmsi] = (last[1], last[2])
        if last is not None and last[0] % step == 0:
            waiting = self._on_grid.get(last[0] // step)
            if waiting is not None:
                waiting.discard(mmsi)
        vessel.accepted = report
        vessel.spike_since_accept = False
        vessel.on_grid_done = False
        if report[0] % step == 0:
            self._on_grid.setdefault(report[0] // step, set()).add(mmsi)

    def _finalize_until(self, end_slot: int) -> None:
        if self._next_slot is None:
            candidates = [*self._slots, *self._on_grid]
            if not candidates:
                return
            self._next_slot = min(candidates)
        ready = sorted(s for s in {*self._slots, *self._on_grid} if s < end_slot)
        for slot in ready:
            for mmsi in self._on_grid.pop(slot, set()):
                vessel = self._vessels[mmsi]
                if (
                    vessel.accepted is not None
                    and vessel.accepted[0] == slot * self.params.resample_seconds
                ):
                    self._slots.setdefault(slot, {})[mmsi] = (
                        vessel.accepted[1],
                        vessel.accepted[2],
                    )
                    vessel.on_grid_done = True
            self._process_slot(slot, self._slots.pop(slot, {}))
        self._next_slot = end_slot

    # ---------------------------------------------------------- per slot work
    def _process_slot(self, slot: int, positions: dict[int, tuple[float, float]]) -> None:
        self.analysis.grid_positions += len(positions)
        params = self.params
        mmsis = np.array(sorted(positions), dtype=np.int64)
        lat = np.array([positions[m][0] for m in mmsis.tolist()], dtype=np.float64)
        lon = np.array([positions[m][1] for m in mmsis.tolist()], dtype=np.float64)
        present = set(mmsis.tolist())

        # loitering chains: one vectorised speed computation per slot, as in loitering.py
        for m in self._present_before - present:
            self._end_chain(m)
        names = mmsis.tolist()
        vessels = [self._vessels[m] for m in names]
        going = [
            i for i, v in enumerate(vessels) if v.chain_slots and v.chain_slots[-1] == slot - 1
        ]
        slow = np.zeros(len(names), dtype=bool)
        if going:
            g = np.array(going)
            prev_lat = np.array([vessels[i].chain_lat[-1] for i in going])
            prev_lon = np.array([vessels[i].chain_lon[-1] for i in going])
            km = haversine_km(prev_lat, prev_lon, lat[g], lon[g])
            slow[g] = (
                km / params.resample_seconds / KNOT_KM_PER_SECOND < params.loitering_max_speed_knots
            )
        for i, (m, la, lo) in enumerate(zip(names, lat.tolist(), lon.tolist(), strict=True)):
            v = vessels[i]
            if slow[i]:
                v.chain_slots.append(slot)
                v.chain_lat.append(la)
                v.chain_lon.append(lo)
                continue
            self._end_chain(m)
            v.chain_slots, v.chain_lat, v.chain_lon = [slot], [la], [lo]
        self._present_before = present

        # encounters
        slots = np.full(len(mmsis), slot, dtype=np.int64)
        pairs = close_pairs(slots, lat, lon, mmsis, params.encounter_max_distance_km)
        self.analysis.encounter_stats.close_observations += len(pairs.a)
        close_now: set[tuple[int, int]] = set()
        merge_slots = params.encounter_merge_seconds / params.resample_seconds
        for i, j, d in zip(
            pairs.a.tolist(), pairs.b.tolist(), pairs.distance_km.tolist(), strict=True
        ):
            key = (int(mmsis[i]), int(mmsis[j]))
            close_now.add(key)
            pair = self._pairs.get(key)
            if pair is None:
                pair = self._pairs[key] = _Pair()
                for m in key:
                    self._pairs_of.setdefault(m, set()).add(key)
            if pair.run is not None and slot - pair.run.slots[-1] >= merge_slots:
                self._close_run(key, pair)  # a joint silence too long to bridge
                pair = self._pairs.setdefault(key, pair)
                for m in key:
                    self._pairs_of.setdefault(m, set()).add(key)
            if pair.run is None:
                pair.run = _Run()
            run = pair.run
            run.slots.append(slot)
            run.dist.append(d)
            run.lat_a.append(float(lat[i]))
            run.lon_a.append(float(lon[i]))
            run.lat_b.append(float(lat[j]))
            run.lon_b.append(float(lon[j]))
        for key, pair in list(self._pairs.items()):
            if pair.run is None or key in close_now:
                continue
            both = key[0] in present and key[1] in present
            if both or slot - pair.run.slots[-1] >= merge_slots:
                self._close_run(key, pair)
        while self._group_deadlines and self._group_deadlines[0][0] <= slot:
            _, key = heapq.heappop(self._group_deadlines)
            pair = self._pairs.get(key)
            if (
                pair is not None
                and pair.group
                and pair.run is None
                and slot - pair.group_end() >= merge_slots
            ):
                self._close_group(key, pair)

        # gaps waiting for the encounters that could span them; forget encounters no
        # waiting or future gap can fall inside (a future gap starts after this slot's lookback)
        horizon = min(
            [g.start for _, g in self._gaps_waiting],
            default=slot * params.resample_seconds - params.lookahead_seconds,
        )
        for m in [m for m, found in self._encounters_of.items() if found[-1].end < horizon]:
            kept = [e for e in self._encounters_of[m] if e.end >= horizon]
            if kept:
                self._encounters_of[m] = kept
            else:
                del self._encounters_of[m]
        still: list[tuple[int, AisGap]] = []
        for due, gap in self._gaps_waiting:
            if due <= slot and not self._may_still_span(gap):
                self._emit_gap(gap)
            else:
                still.append((due, gap))
        self._gaps_waiting = still

    def _end_chain(self, mmsi: int) -> None:
        v = self._vessels[mmsi]
        params = self.params
        if len(v.chain_slots) > 1 and (
            v.chain_slots[-1] - v.chain_slots[0]
            >= params.loitering_min_seconds / params.resample_seconds
        ):
            stats = self.analysis.loitering_stats
            stats.slow_chains += 1
            lat = np.array(v.chain_lat)
            lon = np.array(v.chain_lon)
            flags = offshore_flags(lat, lon, self.shore, params, stats)
            for event in runs_from_chain(
                mmsi, np.array(v.chain_slots, dtype=np.int64), lat, lon, flags, params
            ):
                stats.accepted += 1
                if self._keep:
                    self.analysis.loitering.append(event)
                self._emit(event)
        v.chain_slots, v.chain_lat, v.chain_lon = [], [], []

    def _close_run(self, key: tuple[int, int], pair: _Pair) -> None:
        run = pair.run
        pair.run = None
        params = self.params
        if run is None:
            return
        if (
            run.slots[-1] - run.slots[0]
        ) * params.resample_seconds >= params.encounter_min_raw_seconds:
            self.analysis.encounter_stats.raw += 1
            raw = RawRun(
                key[0],
                key[1],
                np.array(run.slots, dtype=np.int64),
                np.array(run.dist),
                np.array(run.lat_a),
                np.array(run.lon_a),
                np.array(run.lat_b),
                np.array(run.lon_b),
            )
            merge_slots = params.encounter_merge_seconds / params.resample_seconds
            if pair.group and raw.start_slot - pair.group_end() >= merge_slots:
                self._close_group(key, pair)
            pair.group.append(raw)
        if pair.group:
            due = math.ceil(
                pair.group_end() + params.encounter_merge_seconds / params.resample_seconds
            )
            heapq.heappush(self._group_deadlines, (due, key))
        else:
            self._forget(key)

    def _close_group(self, key: tuple[int, int], pair: _Pair) -> None:
        if pair.group:
            accepted = summarize(pair.group, self.shore, self.params, self.analysis.encounter_stats)
            pair.group = []
            for found in accepted:
                if self._keep:
                    self.analysis.encounters.append(found)
                for m in found.vessels:
                    self._encounters_of.setdefault(m, []).append(found)
                self._emit(found)
        if pair.run is None:
            self._forget(key)

    def _forget(self, key: tuple[int, int]) -> None:
        self._pairs.pop(key, None)
        for m in key:
            keys = self._pairs_of.get(m)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._pairs_of[m]

    # ------------------------------------------------------------------ gaps
    def _gap(self, mmsi: int, last: Report, report: Report) -> None:
        params = self.params
        stats = self.analysis.gap_stats
        stats.recorded += 1
        flag = False
        if report[0] - last[0] >= params.gap_dark_seconds:
            stats.dark += 1
            ends = disabling_ends_offshore(
                np.array([last[1], report[1]]),
                np.array([last[2], report[2]]),
                self.shore,
                params,
                stats,
            )
            flag = bool(ends[0] and ends[1])
        gap = AisGap(mmsi, last[0], report[0], flag)
        if not flag:
            self._emit_gap(gap)
            return
        due = report[0] // params.resample_seconds + 1
        self._gaps_waiting.append((due, gap))

    def _may_still_span(self, gap: AisGap) -> bool:
        step = self.params.resample_seconds
        for key in self._pairs_of.get(gap.mmsi, ()):
            pair = self._pairs[key]
            first = (
                pair.group[0].start_slot
                if pair.group
                else (pair.run.slots[0] if pair.run else None)
            )
            if first is not None and first * step <= gap.start:
                return True
        return False

    def _emit_gap(self, gap: AisGap) -> None:
        stats = self.analysis.gap_stats
        if gap.possible_disabling and is_joint_silence(
            gap.mmsi, gap.start, gap.end, self._encounters_of.get(gap.mmsi, ())
        ):
            stats.joint_silence += 1
            gap = AisGap(gap.mmsi, gap.start, gap.end, False)
        stats.possible_disabling += gap.possible_disabling
        if self._keep:
            self.analysis.gaps.append(gap)
        self._emit(gap)

    def _emit(self, result: Result) -> None:
        if self._sink is not None:
            self._sink(result)


def analyze_stream(
    rows: Iterable[tuple[int, int, float, float]],
    *,
    shore: ShoreModel | None = None,
    params: MaritimeParameters = DEFAULT_PARAMETERS,
    sink: Callable[[Result], None] | None = None,
    reorder_seconds: int = 300,
) -> Analysis:
    """Run the streaming engine over ``(mmsi, epoch_seconds, lat, lon)`` rows in time order."""
    engine = StreamAnalyzer(sink, shore=shore, params=params, reorder_seconds=reorder_seconds)
    for mmsi, time, lat, lon in rows:
        engine.push(int(mmsi), int(time), float(lat), float(lon))
    return engine.finish()


__all__ = ["Loitering", "StreamAnalyzer", "analyze_stream"]
