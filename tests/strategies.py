"""Hypothesis strategies shared by the test suite.

Labels: ``labels()`` draws valid canonical :class:`Label` values (every marking rule of
SPEC §2 holds), ``label_spellings(label)`` draws the many ways a person may type the same
label (case, spacing, control order, abbreviations, duplicates, portion or banner form).
"""

from __future__ import annotations

from hypothesis import strategies as st

from trilat.core.labels import (
    TETRAGRAPHS,
    Classification,
    Label,
    Tlp,
    format_banner,
    format_portion,
)

# A handful of nations the product meets, plus a few the REL TO lists of partners carry.
NATIONS = (
    "USA", "JPN", "KOR", "AUS", "CAN", "GBR", "NZL", "FRA", "DEU", "PHL", "IND", "AFG", "IRQ",
    "PRK", "CHN", "RUS", "XKS",
)  # fmt: skip
BUILTIN_TETRAGRAPHS = tuple(sorted(TETRAGRAPHS))
SIMPLE_CONTROLS = ("RSEN", "FOUO", "ORCON", "IMCON", "PROPIN", "RELIDO", "DSEN", "FISA")

# Every spelling the grammar accepts for a simple control, by canonical name.
CONTROL_SPELLINGS = {
    "RSEN": ("RSEN", "RS", "RISK SENSITIVE"),
    "FOUO": ("FOUO", "FOR OFFICIAL USE ONLY"),
    "ORCON": ("ORCON", "OC", "ORIGINATOR CONTROLLED"),
    "IMCON": ("IMCON", "IMC", "CONTROLLED IMAGERY"),
    "NOFORN": ("NOFORN", "NF", "NOT RELEASABLE TO FOREIGN NATIONALS"),
    "PROPIN": ("PROPIN", "PR", "CAUTION-PROPRIETARY INFORMATION INVOLVED"),
    "RELIDO": ("RELIDO", "RELEASABLE BY INFORMATION DISCLOSURE OFFICIAL"),
    "DSEN": ("DSEN", "DEA SENSITIVE"),
    "FISA": ("FISA",),
}
CLASSIFICATION_SPELLINGS = {
    Classification.UNCLASSIFIED: ("UNCLASSIFIED", "U"),
    Classification.CONFIDENTIAL: ("CONFIDENTIAL", "C"),
    Classification.SECRET: ("SECRET", "S"),
    Classification.TOP_SECRET: ("TOP SECRET", "TS"),
}


def _expand(codes: frozenset[str]) -> frozenset[str]:
    out: set[str] = set()
    for code in codes:
        out |= TETRAGRAPHS.get(code, frozenset({code}))
    return frozenset(out)


def nations() -> st.SearchStrategy[str]:
    return st.sampled_from(NATIONS)


@st.composite
def release_lists(draw: st.DrawFn) -> frozenset[str]:
    """A REL TO / EYES list that names at least two nations once expanded."""
    codes = draw(st.frozensets(nations(), max_size=5))
    codes |= draw(st.frozensets(st.sampled_from(BUILTIN_TETRAGRAPHS), max_size=2))
    if draw(st.booleans()):
        codes |= {"USA"}
    while len(_expand(codes)) < 2:
        codes |= {draw(nations())}
    return codes


@st.composite
def labels(draw: st.DrawFn, *, with_owner: bool = True) -> Label:
    """A valid label in canonical form."""
    classification = draw(st.sampled_from(list(Classification)))
    classified = classification is not Classification.UNCLASSIFIED
    release = draw(st.sampled_from(["none", "noforn", "rel_to", "eyes"]))
    rel_to = eyes = display = frozenset[str]()
    dissem = set(draw(st.frozensets(st.sampled_from(SIMPLE_CONTROLS))))
    dissem.discard("FOUO" if classified else "ORCON")
    if release == "noforn":
        dissem.add("NOFORN")
        dissem.discard("RELIDO")
    elif release == "rel_to":
        rel_to = draw(release_lists())
    elif release == "eyes":
        eyes = draw(release_lists())
    if release != "noforn" and draw(st.booleans()):
        released = _expand(rel_to | eyes)
        choices = [n for n in NATIONS if n not in released]
        display = draw(st.frozensets(st.sampled_from(choices), min_size=1, max_size=3))
    tlps = [t for t in Tlp if not (classified and t is Tlp.CLEAR)]
    tlp = draw(st.none() | st.sampled_from(tlps))
    owner = draw(st.none() | nations()) if with_owner else None
    return Label(classification, rel_to, frozenset(dissem), display, eyes, tlp, owner)


def _noisy_case(draw: st.DrawFn, text: str) -> str:
    mode = draw(st.sampled_from(["upper", "lower", "mixed"]))
    if mode == "upper":
        return text
    if mode == "lower":
        return text.lower()
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.lower() if flip else c for c, flip in zip(text, flips, strict=True))


def _space(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "", " ", "  ", "\t"]))


@st.composite
def label_spellings(draw: st.DrawFn, label: Label) -> str:
    """One of the many texts that a person might type for *label*."""
    head = draw(st.sampled_from(CLASSIFICATION_SPELLINGS[label.classification]))
    controls: list[str] = []
    for name in label.dissem:
        spelled = draw(st.sampled_from(CONTROL_SPELLINGS[name]))
        controls.extend([spelled] * draw(st.integers(1, 2)))  # duplicates are removed
    if label.rel_to:
        codes = draw(st.permutations(sorted(label.rel_to)))
        codes = codes + draw(st.lists(st.sampled_from(codes), max_size=2))
        keyword = draw(st.sampled_from(["REL TO", "REL"]))
        separator = "," + _space(draw)
        controls.append(f"{keyword} " + separator.join(codes))
    if label.eyes_only:
        codes = draw(st.permutations(sorted(label.eyes_only)))
        controls.append("/".join(codes) + draw(st.sampled_from([" EYES ONLY", " EYES"])))
    if label.display_only:
        codes = draw(st.permutations(sorted(label.display_only)))
        controls.append("DISPLAY ONLY " + ", ".join(codes))
    controls = draw(st.permutations(controls))
    parts = [head]
    if controls:
        parts.append((_space(draw) + "/" + _space(draw)).join(controls))
    if label.tlp is not None:
        parts.append(label.tlp.value)
    text = (_space(draw) + "//" + _space(draw)).join(parts)
    if draw(st.booleans()):
        text = "(" + text + ")"
    return _space(draw) + _noisy_case(draw, text) + _space(draw)


@st.composite
def labels_with_spelling(draw: st.DrawFn) -> tuple[Label, str]:
    label = draw(labels(with_owner=False))
    return label, draw(label_spellings(label))


@st.composite
def canonical_texts(draw: st.DrawFn) -> str:
    """Canonical banners and portion marks of valid labels."""
    label = draw(labels(with_owner=False))
    return format_portion(label) if draw(st.booleans()) else format_banner(label)


__all__ = [
    "NATIONS",
    "canonical_texts",
    "label_spellings",
    "labels",
    "labels_with_spelling",
    "nations",
    "release_lists",
]
