"""The nation list in core (which may not import pycountry) matches pycountry's ISO 3166-1."""

from __future__ import annotations

import pycountry

from trilat.core._markings import ISO_ALPHA3
from trilat.core.labels import GENC_EXTRA, TETRAGRAPHS, is_nation


def test_core_nation_list_is_exactly_pycountrys_iso_alpha3_list() -> None:
    assert {country.alpha_3 for country in pycountry.countries} == ISO_ALPHA3


def test_genc_extras_and_tetragraph_members_are_nations() -> None:
    assert not GENC_EXTRA & ISO_ALPHA3
    for members in TETRAGRAPHS.values():
        assert all(is_nation(member) for member in members)
    assert all(len(code) == 4 and not is_nation(code) for code in TETRAGRAPHS)
