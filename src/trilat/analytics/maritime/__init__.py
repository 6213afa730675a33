"""Maritime analytics: ship-to-ship encounters, loitering and AIS gaps (SPEC §7), batch and
streaming, plus a watchlist of vessels of interest.

Pure track functions over the observations' own timestamps: nothing here reads a clock, the
environment or a file other than the shipped shore data. Imports only ``trilat.core``.
"""

from trilat.analytics.maritime.batch import DETECTORS, Analysis, analyze
from trilat.analytics.maritime.clean import CleanSummary, clean_positions
from trilat.analytics.maritime.events import (
    AisGap,
    Encounter,
    Loitering,
    Result,
    derived_item,
    derived_refs,
    events_of,
)
from trilat.analytics.maritime.params import DEFAULT_PARAMETERS, MaritimeParameters
from trilat.analytics.maritime.positions import ParseSummary, Positions, parse_positions_csv
from trilat.analytics.maritime.resample import GridTrack, resample
from trilat.analytics.maritime.shore import LandSource, ShoreModel, default_shore_model
from trilat.analytics.maritime.stream import StreamAnalyzer, analyze_stream
from trilat.analytics.maritime.watchlist import (
    WatchArea,
    WatchEntry,
    Watchlist,
    WatchMonitor,
    normalize_name,
    watch_alerts,
)

__all__ = [
    "DEFAULT_PARAMETERS",
    "DETECTORS",
    "AisGap",
    "Analysis",
    "CleanSummary",
    "Encounter",
    "GridTrack",
    "LandSource",
    "Loitering",
    "MaritimeParameters",
    "ParseSummary",
    "Positions",
    "Result",
    "ShoreModel",
    "StreamAnalyzer",
    "WatchArea",
    "WatchEntry",
    "WatchMonitor",
    "Watchlist",
    "analyze",
    "analyze_stream",
    "clean_positions",
    "default_shore_model",
    "derived_item",
    "derived_refs",
    "events_of",
    "normalize_name",
    "parse_positions_csv",
    "resample",
    "watch_alerts",
]
