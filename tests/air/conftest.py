"""Fixtures of the air and missile tests: the 2019-07-23 scenario, analysed once per view."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.air import scenario_2019_07_23 as scenario
from trilat.analytics.airspace import AirspaceReport, Fix, analyze_airspace, parse_track_csv


@pytest.fixture(scope="session")
def scenario_fixes() -> list[Fix]:
    with Path(scenario.CSV_PATH).open(encoding="utf-8") as handle:
        return parse_track_csv(handle)


@pytest.fixture(scope="session")
def kor_report(scenario_fixes: list[Fix]) -> AirspaceReport:
    return analyze_airspace(scenario_fixes, view="KOR")


@pytest.fixture(scope="session")
def jpn_report(scenario_fixes: list[Fix]) -> AirspaceReport:
    return analyze_airspace(scenario_fixes, view="JPN")
