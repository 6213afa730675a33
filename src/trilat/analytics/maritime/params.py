"""Every threshold of the maritime detectors, named, with the SPEC §7 values as defaults.

No IO. The defaults are the specification; change them only by building a new
:class:`MaritimeParameters` (it is frozen), e.g. ``replace(DEFAULT_PARAMETERS, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NAUTICAL_MILE_KM: Final = 1.852
KNOT_KM_PER_SECOND: Final = NAUTICAL_MILE_KM / 3600.0


@dataclass(frozen=True, slots=True)
class MaritimeParameters:
    """Thresholds for cleaning, resampling, encounters, loitering and AIS gaps (SPEC §7)."""

    # --- resampling (Global Fishing Watch's method) ---
    resample_seconds: int = 600
    """Grid step: every vessel is resampled to positions at multiples of 10 min (UTC epoch)."""
    max_interpolation_gap_seconds: int = 70 * 60
    """A grid position is interpolated only between reports at most 70 min apart."""

    # --- cleaning ---
    max_speed_knots: float = 50.0
    """A step implying more than this is a jump: an isolated spike is dropped, and a position
    is never interpolated across such a step."""

    # --- encounters ---
    encounter_max_distance_km: float = 0.5
    """Two vessels are *close* at a grid time when at most this far apart."""
    encounter_min_raw_seconds: int = 60 * 60
    """A raw encounter is a run of close observations lasting at least this long."""
    encounter_merge_seconds: int = 24 * 3600
    """Raw encounters of one pair less than this apart merge; a joint silence this long also
    ends a run (anything shorter does not split it)."""
    encounter_min_seconds: int = 2 * 3600
    """A merged encounter counts when it lasts at least this long ..."""
    encounter_max_median_speed_knots: float = 2.0
    """... with a median speed below this ..."""
    encounter_min_shore_km: float = 10.0
    """... and its mean position at least this far from shore and from any anchorage."""

    # --- loitering ---
    loitering_max_speed_knots: float = 2.0
    """Every 10-min step of a loitering run averages less than this speed."""
    loitering_min_seconds: int = 4 * 3600
    """A loitering run lasts at least this long."""
    loitering_min_shore_km: float = 20 * NAUTICAL_MILE_KM
    """Every position of a loitering run is at least 20 nm from shore."""

    # --- AIS gaps ---
    gap_record_seconds: int = 6 * 3600
    """A silence at least this long is recorded as an ``ais_gap`` event."""
    gap_dark_seconds: int = 12 * 3600
    """A silence at least this long is *going dark* and may be flagged ``possible_disabling`` ..."""
    gap_disabling_min_shore_km: float = 50 * NAUTICAL_MILE_KM
    """... when both of its ends lie more than 50 nm from shore (and it is not a joint silence
    inside an encounter)."""

    # --- coverage ---
    unknown_shore_is_offshore: bool = True
    """Where no shore data covers a position, treat it as offshore (report rather than miss).
    Each such decision is counted in the summary (``shore_unknown``)."""

    def __post_init__(self) -> None:
        if self.resample_seconds <= 0 or self.max_interpolation_gap_seconds < 0:
            raise ValueError("resample step and interpolation gap must be positive")
        if self.max_speed_knots <= 0:
            raise ValueError("max_speed_knots must be positive")

    @property
    def lookahead_seconds(self) -> int:
        """How long after a grid time later reports can still change it (spike + interpolation)."""
        return 2 * self.max_interpolation_gap_seconds + self.resample_seconds


DEFAULT_PARAMETERS: Final = MaritimeParameters()
