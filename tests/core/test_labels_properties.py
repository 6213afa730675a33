"""Labels, by property: round trips, normalisation and the safety of roll-up (SPEC §2)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.strategies import NATIONS, canonical_texts, labels, labels_with_spelling
from trilat.core.errors import LabelError
from trilat.core.labels import (  # the two parsers must agree
    TETRAGRAPHS,
    Classification,
    Label,
    Tlp,
    _parse_fast,
    _parse_full,
    format_banner,
    format_portion,
    parse_label,
    roll_up,
)


def outcome(text: str) -> Label | LabelError:
    """The parsed label, or the error that refused the text."""
    try:
        return parse_label(text)
    except LabelError as exc:
        return exc


PROPERTY = settings(max_examples=100, deadline=None)
ROLL_UP = settings(max_examples=60, deadline=None)


@PROPERTY
@given(labels())
def test_format_then_parse_gives_back_the_same_label(label: Label) -> None:
    assert parse_label(format_banner(label), owner=label.owner) == label
    assert parse_label(format_portion(label), owner=label.owner) == label


@PROPERTY
@given(canonical_texts())
def test_parse_then_format_is_the_identity_on_canonical_strings(text: str) -> None:
    label = parse_label(text)
    rendered = format_portion(label) if text.startswith("(") else format_banner(label)
    assert rendered == text


@PROPERTY
@given(labels_with_spelling())
def test_any_spelling_of_a_label_parses_to_the_canonical_label(
    case: tuple[Label, str],
) -> None:
    label, text = case
    assert parse_label(text) == label


@PROPERTY
@given(st.text(max_size=60))
@example("SECRET//REL TO USA, JPN, KOR")
@example("(((")
@example("S//USA/EYES")
@example("S//REL TO TO USA")
@example("S// / //")
def test_arbitrary_text_parses_or_fails_with_a_label_error(text: str) -> None:
    label = outcome(text)
    if isinstance(label, LabelError):
        assert label.reason
        assert 0 <= label.position <= len(text)
    else:
        assert parse_label(format_banner(label)) == label


MARKING_CHARACTERS = st.sampled_from([*"/,() \tSTUCNFOREL:", "//", "TLP:", "REL TO "])


@PROPERTY
@given(canonical_texts(), st.integers(0, 80), MARKING_CHARACTERS, st.booleans())
def test_mutated_canonical_text_is_either_refused_or_a_valid_label(
    text: str, at: int, piece: str, delete: bool
) -> None:
    at = min(at, len(text))
    mutated = text[:at] + text[at + 1 :] if delete else text[:at] + piece + text[at:]
    label = outcome(mutated)
    if isinstance(label, LabelError):
        assert label.text == mutated
        assert label.token in mutated
    else:
        assert parse_label(format_banner(label)) == label


def _narrows(portion: Label) -> bool:
    """Portions whose release restrictions the banner must honour."""
    return (
        portion.classification is not Classification.UNCLASSIFIED
        or portion.noforn
        or portion.tlp in (Tlp.RED, Tlp.AMBER_STRICT)
    )


@ROLL_UP
@given(st.lists(labels(with_owner=False), min_size=1, max_size=4))
def test_rollup_never_releases_what_a_portion_forbids(portions: list[Label]) -> None:
    banner = roll_up(portions)
    assert banner.classification == max(p.classification for p in portions)
    for nation in NATIONS:
        if banner.permits(nation):
            assert all(p.permits(nation) for p in portions if _narrows(p)), nation
    for nation in banner.display_only:
        for portion in portions:
            if portion.classification is not Classification.UNCLASSIFIED:
                assert nation in (portion.releasable_to() or set()) | portion.display_only
    if any(p.noforn for p in portions):
        assert banner.noforn


@ROLL_UP
@given(st.lists(labels(with_owner=False), min_size=1, max_size=4))
def test_rollup_is_a_valid_label_independent_of_order_and_idempotent(
    portions: list[Label],
) -> None:
    banner = roll_up(portions)
    assert parse_label(format_banner(banner)) == banner
    assert roll_up(reversed(portions)) == banner
    assert roll_up([banner]) == banner
    if banner.classification is not Classification.UNCLASSIFIED:
        assert "FOUO" not in banner.dissem


def full_parse(text: str) -> Label | LabelError:
    try:
        return _parse_full(text, None, TETRAGRAPHS)
    except LabelError as exc:
        return exc


@PROPERTY
@given(labels_with_spelling(), st.integers(0, 80), MARKING_CHARACTERS, st.booleans())
def test_fast_path_agrees_with_the_full_parser(
    case: tuple[Label, str], at: int, piece: str, delete: bool
) -> None:
    _, text = case
    at = min(at, len(text))
    for candidate in (
        text,
        text[:at] + text[at + 1 :] if delete else text[:at] + piece + text[at:],
    ):
        fast = _parse_fast(candidate, None, TETRAGRAPHS)
        if fast is not None:
            assert full_parse(candidate) == fast
