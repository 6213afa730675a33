"""The batch engine: clean, resample, then run the three detectors over whole columns. No IO."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from trilat.analytics.maritime.clean import CleanSummary, clean_with_jumps
from trilat.analytics.maritime.encounters import EncounterStats, detect_encounters
from trilat.analytics.maritime.events import AisGap, Encounter, Loitering, Result, events_of
from trilat.analytics.maritime.gaps import GapStats, detect_gaps
from trilat.analytics.maritime.loitering import LoiteringStats, detect_loitering
from trilat.analytics.maritime.params import DEFAULT_PARAMETERS, MaritimeParameters
from trilat.analytics.maritime.positions import Positions
from trilat.analytics.maritime.resample import resample
from trilat.analytics.maritime.shore import ShoreModel, default_shore_model

DETECTORS = ("encounters", "loitering", "gaps")


@dataclass
class Analysis:
    """Results of a run and the summary of what was cleaned, counted and decided."""

    encounters: list[Encounter] = field(default_factory=list)
    loitering: list[Loitering] = field(default_factory=list)
    gaps: list[AisGap] = field(default_factory=list)
    clean: CleanSummary = field(default_factory=CleanSummary)
    encounter_stats: EncounterStats = field(default_factory=EncounterStats)
    loitering_stats: LoiteringStats = field(default_factory=LoiteringStats)
    gap_stats: GapStats = field(default_factory=GapStats)
    grid_positions: int = 0
    vessels: int = 0

    def results(self) -> list[Result]:
        return [*self.encounters, *self.loitering, *self.gaps]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """SPEC §9 event dicts of one detector (``encounters``/``loitering``/``gaps``) or all."""
        chosen: list[Result]
        if kind is None:
            chosen = self.results()
        else:
            chosen = list(
                {"encounters": self.encounters, "loitering": self.loitering, "gaps": self.gaps}[
                    kind
                ]
            )
        return events_of(chosen)

    @property
    def summary(self) -> dict[str, Any]:
        """Plain-data summary: cleaning counts and each detector's counters."""
        enc = asdict(self.encounter_stats)
        enc.pop("candidates", None)
        return {
            "input": self.clean.as_dict(),
            "vessels": self.vessels,
            "grid_positions": self.grid_positions,
            "encounters": enc,
            "loitering": asdict(self.loitering_stats),
            "gaps": asdict(self.gap_stats),
        }


def analyze(
    positions: Positions,
    *,
    shore: ShoreModel | None = None,
    params: MaritimeParameters = DEFAULT_PARAMETERS,
    detectors: tuple[str, ...] = DETECTORS,
) -> Analysis:
    """Run the chosen detectors over *positions* (any order, dirty input allowed)."""
    for name in detectors:
        if name not in DETECTORS:
            raise ValueError(f"unknown detector {name!r}")
    shore = shore if shore is not None else default_shore_model()
    result = Analysis()
    cleaned, result.clean, jumps = clean_with_jumps(positions, params)
    result.vessels = int(np.count_nonzero(np.diff(cleaned.mmsi)) + 1) if len(cleaned) else 0
    track = resample(cleaned, params, jumps)
    result.grid_positions = len(track)
    need_encounters = "encounters" in detectors or "gaps" in detectors
    with ThreadPoolExecutor(max_workers=1) as pool:
        # loitering on the second core while encounters run here (numpy releases the GIL)
        loitering = None
        if "loitering" in detectors:
            loitering = pool.submit(detect_loitering, track, shore, params, result.loitering_stats)
        if need_encounters:
            result.encounters = detect_encounters(track, shore, params, result.encounter_stats)
        if loitering is not None:
            result.loitering = loitering.result()
    if "gaps" in detectors:
        result.gaps = detect_gaps(cleaned, shore, result.encounters, params, result.gap_stats)
    if "encounters" not in detectors:
        result.encounters = []
    return result
