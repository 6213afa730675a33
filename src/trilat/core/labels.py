"""Security labels: the canonical model, the CAPCO-style grammar, rendering and roll-up.

No IO. Deterministic. The one home of classification order, banner and portion marks
(SPEC §2); everyone else calls :func:`parse_label`, :func:`format_banner`,
:func:`format_portion` and :func:`roll_up` and never matches markings with regexes.

Grammar (case, spacing and order are free on input; the rendering is canonical)::

    label      = banner | "(" banner ")"                        the second form is a portion
    banner     = classification *( "//" category )
    category   = dissem *( "/" dissem ) | "TLP:" colour          at most one of each
    dissem     = control | "REL TO" codes | "REL" codes | eyes | "DISPLAY ONLY" codes
    eyes       = code *( "/" code ) " EYES ONLY" | ... " EYES"   e.g. USA/GBR EYES ONLY
    codes      = code *( "," code )                              trigraphs and tetragraphs

Canonical rendering: classification, then the dissemination controls in the order RSEN,
FOUO, ORCON, IMCON, NOFORN, PROPIN, REL TO, RELIDO, EYES, DSEN, FISA, DISPLAY ONLY, then
``//TLP:…`` as its own last category. Country lists put ``USA`` first, then trigraphs
alphabetically, then tetragraphs alphabetically; ``REL TO`` and ``DISPLAY ONLY`` lists are
joined by ``", "``, ``EYES`` lists by ``"/"``. Portions use ``U C S TS`` and the CAPCO
portion abbreviations ``RS OC IMC NF PR`` and ``… EYES``; banners use ``… EYES ONLY``.

Rules beyond the grammar (each raises :class:`LabelError` naming token and offset):

* ``REL TO`` and ``EYES ONLY`` must name at least two nations once tetragraphs are
  expanded (one nation is NOFORN).
* ``NOFORN``, ``REL TO`` and ``EYES ONLY`` exclude each other; ``NOFORN`` also excludes
  ``RELIDO`` and ``DISPLAY ONLY``.
* ``ORCON`` is not used on UNCLASSIFIED; ``FOUO`` is not used on classified labels.
* ``TLP:CLEAR`` (public) is not used on classified labels; other TLP colours may sit on
  any label and are kept by roll-up, the most restrictive winning.
* ``DISPLAY ONLY`` may not name a nation the label already releases to.
* Empty categories, controls or list entries and trailing separators are errors, as is
  a second ``REL TO``/``EYES``/``DISPLAY ONLY``/TLP or a second dissemination category,
  and any character outside printable ASCII (space and tab are the only blanks).

When several rules are broken, the error names the first offending token reading left to
right.

TLP is a field of its own (``Label.tlp``), written as the last ``//TLP:…`` category:
``UNCLASSIFIED//FOUO//TLP:AMBER``. TLP 1.0's ``TLP:WHITE`` is read as ``TLP:CLEAR``.

Speed: :func:`parse_label` is cached by (text, owner); a miss takes a fast path for the
common legal shapes (classification, simple controls, REL TO, TLP) and falls back to the
full parser, which alone produces errors. Tests check that both parsers agree.

A classified label with no foreign-release marking (REL TO, EYES ONLY, RELIDO, DISPLAY
ONLY) is NOFORN: that is how :attr:`Label.noforn` reads it and how roll-up treats it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from trilat.core._markings import ISO_ALPHA3
from trilat.core.errors import LabelError

__all__ = [
    "CONTROL_ORDER",
    "GENC_EXTRA",
    "MAX_LABEL_LENGTH",
    "TETRAGRAPHS",
    "Classification",
    "Label",
    "Tlp",
    "check_tetragraphs",
    "dissem_markings",
    "format_banner",
    "format_portion",
    "is_nation",
    "is_tetragraph",
    "ordered_codes",
    "parse_label",
    "render_national",
    "roll_up",
]


class Classification(IntEnum):
    """Classification levels; ``max()`` over portions gives the banner level."""

    UNCLASSIFIED = 0
    CONFIDENTIAL = 1
    SECRET = 2
    TOP_SECRET = 3

    @property
    def banner(self) -> str:
        """The banner word: ``TOP SECRET`` (with a space), ``SECRET``…"""
        return _BANNER_WORD[self]

    @property
    def portion(self) -> str:
        """The portion abbreviation: ``TS``, ``S``, ``C``, ``U``."""
        return _PORTION_WORD[self]


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 designations (FIRST, 2022)."""

    CLEAR = "TLP:CLEAR"
    GREEN = "TLP:GREEN"
    AMBER = "TLP:AMBER"
    AMBER_STRICT = "TLP:AMBER+STRICT"
    RED = "TLP:RED"


_BANNER_WORD: Final = {
    Classification.UNCLASSIFIED: "UNCLASSIFIED",
    Classification.CONFIDENTIAL: "CONFIDENTIAL",
    Classification.SECRET: "SECRET",
    Classification.TOP_SECRET: "TOP SECRET",
}
_PORTION_WORD: Final = {
    Classification.UNCLASSIFIED: "U",
    Classification.CONFIDENTIAL: "C",
    Classification.SECRET: "S",
    Classification.TOP_SECRET: "TS",
}
_CLASSIFICATION_WORDS: Final[dict[str, Classification]] = {
    **{word: level for level, word in _BANNER_WORD.items()},
    **{word: level for level, word in _PORTION_WORD.items()},
}

# TLP restrictiveness, for roll-up (the most restrictive colour wins).
_TLP_RANK: Final = {Tlp.CLEAR: 0, Tlp.GREEN: 1, Tlp.AMBER: 2, Tlp.AMBER_STRICT: 3, Tlp.RED: 4}
_TLP_WORDS: Final[dict[str, Tlp]] = {
    **{tlp.value: tlp for tlp in Tlp},
    "TLP:WHITE": Tlp.CLEAR,  # TLP 1.0 name; TLP 2.0 renamed it CLEAR with the same meaning
}

#: Render order of the dissemination controls (SPEC §2). REL TO, EYES and DISPLAY ONLY
#: carry country lists and live in their own Label fields; the others are ``Label.dissem``.
CONTROL_ORDER: Final[tuple[str, ...]] = (
    "RSEN",
    "FOUO",
    "ORCON",
    "IMCON",
    "NOFORN",
    "PROPIN",
    "REL TO",
    "RELIDO",
    "EYES",
    "DSEN",
    "FISA",
    "DISPLAY ONLY",
)
_RANK: Final = {name: index for index, name in enumerate(CONTROL_ORDER)}

# Simple controls: every accepted spelling → the canonical name kept in Label.dissem.
_CONTROL_WORDS: Final[dict[str, str]] = {
    "RSEN": "RSEN",
    "RS": "RSEN",
    "RISK SENSITIVE": "RSEN",
    "FOUO": "FOUO",
    "FOR OFFICIAL USE ONLY": "FOUO",
    "ORCON": "ORCON",
    "OC": "ORCON",
    "ORIGINATOR CONTROLLED": "ORCON",
    "IMCON": "IMCON",
    "IMC": "IMCON",
    "CONTROLLED IMAGERY": "IMCON",
    "NOFORN": "NOFORN",
    "NF": "NOFORN",
    "NOT RELEASABLE TO FOREIGN NATIONALS": "NOFORN",
    "PROPIN": "PROPIN",
    "PR": "PROPIN",
    "CAUTION-PROPRIETARY INFORMATION INVOLVED": "PROPIN",
    "RELIDO": "RELIDO",
    "RELEASABLE BY INFORMATION DISCLOSURE OFFICIAL": "RELIDO",
    "DSEN": "DSEN",
    "DEA SENSITIVE": "DSEN",
    "FISA": "FISA",
}
_PORTION_CONTROL: Final = {
    "RSEN": "RS",
    "ORCON": "OC",
    "IMCON": "IMC",
    "NOFORN": "NF",
    "PROPIN": "PR",
}

#: GENC trigraphs accepted as nations beyond ISO 3166-1 (GENC Standard, NGA): Kosovo.
GENC_EXTRA: Final[frozenset[str]] = frozenset({"XKS"})
_NATIONS: Final[frozenset[str]] = ISO_ALPHA3 | GENC_EXTRA

#: Built-in tetragraphs and their members. FVEY and ACGU as published in the ODNI
#: "Authorized Classification and Control Markings Register" (CAPCO register) tetragraph
#: table; TEYE ("Three Eyes") as AUS, GBR, USA: the smaller, fail-closed reading of the
#: same register (see tests/vectors/labels/README.md). Deployments add their own (e.g.
#: ``TRIL``) through the ``tetragraphs`` argument; built-ins cannot be redefined.
TETRAGRAPHS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "ACGU": frozenset({"AUS", "CAN", "GBR", "USA"}),
        "FVEY": frozenset({"AUS", "CAN", "GBR", "NZL", "USA"}),
        "TEYE": frozenset({"AUS", "GBR", "USA"}),
    }
)

#: Longest label text accepted (a REL TO list of every nation fits); bounds the caches.
MAX_LABEL_LENGTH: Final = 2048

_EMPTY: Final[frozenset[str]] = frozenset()
_SPACE: Final = " \t"


def is_nation(code: str) -> bool:
    """True for an ISO 3166-1 alpha-3 code or a GENC trigraph in :data:`GENC_EXTRA`."""
    return code in _NATIONS


def is_tetragraph(code: str, tetragraphs: Mapping[str, frozenset[str]] | None = None) -> bool:
    """True for a built-in tetragraph, or one defined in *tetragraphs*."""
    return code in TETRAGRAPHS or (tetragraphs is not None and code in tetragraphs)


def _code_key(code: str) -> tuple[bool, bool, str]:
    return (code != "USA", len(code) == 4, code)


def ordered_codes(codes: Iterable[str]) -> list[str]:
    """Country codes in render order: USA, then trigraphs, then tetragraphs, each A–Z."""
    return sorted(codes, key=_code_key)


@dataclass(frozen=True, slots=True)
class Label:
    """A security label in canonical form: classification plus controls (SPEC §2).

    Build one with :func:`parse_label` (which enforces the marking rules) or
    :func:`roll_up`. ``rel_to``, ``eyes_only`` and ``display_only`` hold canonical codes as
    written (tetragraphs not expanded); ``dissem`` holds the other controls by canonical
    name. ``owner`` is the originating nation, set from the item, never from the text.
    """

    classification: Classification
    rel_to: frozenset[str] = _EMPTY
    dissem: frozenset[str] = _EMPTY
    display_only: frozenset[str] = _EMPTY
    eyes_only: frozenset[str] = _EMPTY
    tlp: Tlp | None = None
    owner: str | None = None

    def __str__(self) -> str:
        return format_banner(self)

    @property
    def noforn(self) -> bool:
        """Explicit NOFORN, or classified without any foreign-release marking (fail closed)."""
        if "NOFORN" in self.dissem:
            return True
        return (
            self.classification is not Classification.UNCLASSIFIED
            and not self.rel_to
            and not self.eyes_only
            and not self.display_only
            and "RELIDO" not in self.dissem
        )

    def releasable_to(
        self, tetragraphs: Mapping[str, frozenset[str]] | None = None
    ) -> frozenset[str] | None:
        """Nations the marking releases to, tetragraphs expanded.

        ``None`` means the marking names no nations and restricts none (unclassified,
        no NOFORN, no TLP:RED or TLP:AMBER+STRICT); TLP:AMBER also gives ``None`` because
        it is decided by the item's recipients, not the label. An empty set means no
        foreign nation (NOFORN, classified RELIDO or DISPLAY ONLY without a list, TLP:RED,
        TLP:AMBER+STRICT). Unknown tetragraphs contribute nobody. DISPLAY ONLY nations are
        never in the result, but ``None`` cannot exclude them: use :meth:`permits`.
        """
        if self.rel_to or self.eyes_only:
            if "NOFORN" in self.dissem:
                return _EMPTY
            return _expand(self.rel_to | self.eyes_only, tetragraphs)
        if self.noforn or self.tlp is Tlp.RED or self.tlp is Tlp.AMBER_STRICT:
            return _EMPTY
        if self.classification is not Classification.UNCLASSIFIED:
            return _EMPTY  # RELIDO / DISPLAY ONLY alone: nobody by the marking itself
        return None

    def permits(self, nation: str, tetragraphs: Mapping[str, frozenset[str]] | None = None) -> bool:
        """Whether the label itself lets *nation* receive a copy (SPEC §4 rule 2 only).

        The owner is always permitted. NOFORN and unmarked classified: owner only. REL TO
        and EYES ONLY: the listed nations, tetragraphs expanded. DISPLAY ONLY nations are
        never sent copies. TLP:RED and TLP:AMBER+STRICT: owner only. TLP:AMBER is *not*
        decided here (it needs the item's recipients). Unknown nations are refused.
        """
        if nation == self.owner and nation is not None:
            return True
        if nation not in _NATIONS:
            return False
        if self.tlp is Tlp.RED or self.tlp is Tlp.AMBER_STRICT or "NOFORN" in self.dissem:
            return False
        if self.display_only and nation in _expand(self.display_only, tetragraphs):
            return False
        listed = self.rel_to or self.eyes_only
        if listed:
            if nation in listed:
                return True
            for code in listed:
                if len(code) == 4:
                    members = TETRAGRAPHS.get(code)
                    if members is None and tetragraphs is not None:
                        members = tetragraphs.get(code)
                    if members is not None and nation in members:
                        return True
            return False
        return self.classification is Classification.UNCLASSIFIED


def _expand(
    codes: frozenset[str], tetragraphs: Mapping[str, frozenset[str]] | None = None
) -> frozenset[str]:
    """Replace tetragraphs by their members; unknown tetragraphs contribute nobody."""
    if tetragraphs is None:
        cached = _EXPANDED.get(codes)
        if cached is not None:
            return cached
    nations: set[str] = set()
    for code in codes:
        if len(code) == 4:
            members = TETRAGRAPHS.get(code)
            if members is None and tetragraphs is not None:
                members = tetragraphs.get(code)
            if members is not None:
                nations.update(members)
        else:
            nations.add(code)
    result = frozenset(nations)
    if tetragraphs is None and len(_EXPANDED) < 65536:
        _EXPANDED[codes] = result
    return result


_EXPANDED: dict[frozenset[str], frozenset[str]] = {}


# ---------------------------------------------------------------------------------------
# User tetragraphs
# ---------------------------------------------------------------------------------------

_FrozenTable = tuple[tuple[str, tuple[str, ...]], ...]


def _freeze(tetragraphs: Mapping[str, Iterable[str]]) -> _FrozenTable:
    return tuple(sorted((code, tuple(sorted(members))) for code, members in tetragraphs.items()))


def check_tetragraphs(tetragraphs: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Validate user-defined tetragraphs and return them merged with the built-ins.

    A tetragraph is four capital letters A–Z, is not a built-in with other members, and
    lists at least two nations (trigraphs only, no nesting). Raises LabelError naming the
    code or member at fault.
    """
    return dict(_checked_table(_freeze(tetragraphs)))


@lru_cache(maxsize=64)
def _checked_table(frozen: _FrozenTable) -> Mapping[str, frozenset[str]]:
    table: dict[str, frozenset[str]] = dict(TETRAGRAPHS)
    for code, members in frozen:
        where = f"{code} = {', '.join(members)}"
        if len(code) != 4 or not code.isascii() or not code.isalpha() or not code.isupper():
            raise LabelError(where, code, 0, "a tetragraph is four capital letters A-Z")
        offset = len(code) + 3
        for member in members:
            if member not in _NATIONS:
                raise LabelError(where, member, offset, "unknown country trigraph in tetragraph")
            offset += len(member) + 2
        nations = frozenset(members)
        if len(nations) < 2:
            raise LabelError(where, code, 0, "a tetragraph needs at least two nations")
        builtin = TETRAGRAPHS.get(code)
        if builtin is not None and builtin != nations:
            raise LabelError(where, code, 0, "a built-in tetragraph cannot be redefined")
        table[code] = nations
    return MappingProxyType(table)


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------


def parse_label(
    text: str,
    *,
    owner: str | None = None,
    tetragraphs: Mapping[str, frozenset[str]] | None = None,
) -> Label:
    """Parse a banner (``SECRET//REL TO USA, JPN``) or portion (``(S//NF)``) into a Label.

    Results are cached by text and owner, so repeated labels cost a dictionary lookup.
    *tetragraphs* adds user-defined tetragraphs (see :func:`check_tetragraphs`).

    Raises LabelError(text, token, position, reason) on anything unknown or illegal.
    """
    if len(text) > MAX_LABEL_LENGTH:
        raise LabelError(text[:40] + "…", text[:40], 0, f"label longer than {MAX_LABEL_LENGTH}")
    try:
        return _parse_cached(text, owner)
    except LabelError:
        if not tetragraphs:
            raise
    return _parse_with_table(text, owner, _freeze(tetragraphs))


def _parse_builtin(text: str, owner: str | None) -> Label:
    return _parse(text, owner, TETRAGRAPHS)


_parse_cached = lru_cache(maxsize=16384)(_parse_builtin)


@lru_cache(maxsize=4096)
def _parse_with_table(text: str, owner: str | None, frozen: _FrozenTable) -> Label:
    return _parse(text, owner, _checked_table(frozen))


def _fail(text: str, start: int, end: int, reason: str) -> LabelError:
    return LabelError(text, text[start:end], start, reason)


def _strip(s: str, start: int, end: int) -> tuple[int, int]:
    while start < end and s[start] in _SPACE:
        start += 1
    while end > start and s[end - 1] in _SPACE:
        end -= 1
    return start, end


def _after_word(s: str, start: int, end: int, word: str) -> int:
    """Index after *word* at *start* when a space or the end follows it; else -1."""
    stop = start + len(word)
    if s.startswith(word, start) and (stop == end or (stop < end and s[stop] in _SPACE)):
        return stop
    return -1


def _codes(
    text: str,
    s: str,
    start: int,
    end: int,
    table: Mapping[str, frozenset[str]],
    what: str,
    marking: tuple[int, int],
) -> set[str]:
    """The country codes listed in s[start:end], comma-separated; *marking* spans the whole."""
    codes: set[str] = set()
    position = start
    while True:
        cut = s.find(",", position, end)
        stop = end if cut < 0 else cut
        a, b = _strip(s, position, stop)
        if a == b:
            if cut >= 0:
                raise _fail(text, cut, cut + 1, f"empty entry in {what} list")
            if codes:
                raise _fail(text, end - 1, end, "trailing separator")
            raise _fail(text, *marking, f"{what} lists no country")
        code = s[a:b]
        if code not in _NATIONS and code not in table:
            if len(code) == 3:
                raise _fail(text, a, b, "unknown country trigraph")
            if len(code) == 4:
                raise _fail(text, a, b, "unknown tetragraph")
            raise _fail(text, a, b, "unknown country code")
        codes.add(code)
        if cut < 0:
            return codes
        position = cut + 1


def _parse(text: str, owner: str | None, table: Mapping[str, frozenset[str]]) -> Label:
    """Parse *text*: the fast path for common, legal shapes, else the full parser."""
    if not isinstance(text, str):
        raise TypeError(f"a label is text, not {type(text).__name__}")
    label = _parse_fast(text, owner, table)
    return label if label is not None else _parse_full(text, owner, table)


def _parse_fast(text: str, owner: str | None, table: Mapping[str, frozenset[str]]) -> Label | None:
    """Parse the common shapes of a *legal* label quickly; None sends it to the full parser.

    Handles classification, simple controls, one REL TO list and TLP, with single spaces
    and any case; anything else (EYES, DISPLAY ONLY, odd spacing, any broken rule) returns
    None so that :func:`_parse_full` decides, and names the token if it refuses.
    """
    if (
        not text.isascii()
        or not text.isprintable()
        or (owner is not None and owner not in _NATIONS)
    ):
        return None
    s = text.upper().strip(" ")
    if s[:1] == "(":
        if s[-1:] != ")":
            return None
        s = s[1:-1].strip(" ")
    categories = s.split("//")
    classification = _CLASSIFICATION_WORDS.get(categories[0].strip(" "))
    if classification is None:
        return None
    if len(categories) == 1:
        return Label(classification, owner=owner)
    controls: set[str] = set()
    rel_to: frozenset[str] | None = None
    tlp: Tlp | None = None
    dissem_seen = False
    for category in categories[1:]:
        category = category.strip(" ")
        if category.startswith("TLP"):
            if tlp is not None:
                return None
            tlp = _TLP_WORDS.get(category)
            if tlp is None:
                return None
            continue
        if dissem_seen or not category:
            return None
        dissem_seen = True
        for control in category.split("/"):
            control = control.strip(" ")
            name = _CONTROL_WORDS.get(control)
            if name is not None:
                controls.add(name)
            elif control.startswith("REL TO ") and rel_to is None:
                rel_to = frozenset([code.strip(" ") for code in control[7:].split(",")])
                if rel_to <= _NATIONS:  # nations only, the usual case: nothing to expand
                    if len(rel_to) < 2:
                        return None
                elif any(code not in _NATIONS and code not in table for code in rel_to):
                    return None
                elif len(_expand(rel_to, table)) < 2:
                    return None
            else:
                return None
    if classification is Classification.UNCLASSIFIED:
        if "ORCON" in controls:
            return None
    elif "FOUO" in controls or tlp is Tlp.CLEAR:
        return None
    if "NOFORN" in controls and (rel_to is not None or "RELIDO" in controls):
        return None
    return Label(
        classification,
        rel_to or _EMPTY,
        frozenset(controls) if controls else _EMPTY,
        _EMPTY,
        _EMPTY,
        tlp,
        owner,
    )


def _parse_full(text: str, owner: str | None, table: Mapping[str, frozenset[str]]) -> Label:
    """The full parser: every shape of the grammar, and the error that names the token."""
    if not text.isascii():
        bad = next(index for index, char in enumerate(text) if not char.isascii())
        raise _fail(text, bad, bad + 1, "non-ASCII character in label")
    if not text.replace("\t", " ").isprintable():
        bad = next(i for i, char in enumerate(text) if char != "\t" and not char.isprintable())
        raise _fail(text, bad, bad + 1, "control character in label")
    if owner is not None and owner not in _NATIONS:
        raise LabelError(owner, owner, 0, "unknown owner nation")
    s = text.upper()
    start, end = _strip(s, 0, len(s))
    if start == end:
        raise LabelError(text, "", 0, "empty label")
    if s[start] == "(":
        if s[end - 1] != ")":
            raise _fail(text, start, start + 1, "portion mark without closing parenthesis")
        start, end = _strip(s, start + 1, end - 1)
        if start == end:
            raise _fail(text, start - 1, start + 1, "empty portion mark")
    elif s[end - 1] == ")":
        raise _fail(text, end - 1, end, "closing parenthesis without opening one")

    # Classification: the first category.
    cut = s.find("//", start, end)
    a, b = _strip(s, start, end if cut < 0 else cut)
    word = s[a:b]
    if " " in word or "\t" in word:
        word = " ".join(word.split())
    classification = _CLASSIFICATION_WORDS.get(word)
    if classification is None:
        if a == b:
            raise _fail(text, cut, cut + 2, "empty classification category")
        raise _fail(text, a, b, "unknown classification")
    if cut < 0:
        if classification is Classification.UNCLASSIFIED and owner is None:
            return _UNCLASSIFIED
        return Label(classification, owner=owner)

    rel_to: set[str] | None = None
    rel_spot = (0, 0)
    eyes: set[str] | None = None
    eyes_spot = (0, 0)
    display: set[str] | None = None
    display_spot = (0, 0)
    controls: dict[str, tuple[int, int]] = {}
    tlp: Tlp | None = None
    tlp_spot = (0, 0)
    dissem_seen = False

    while cut >= 0:
        position = cut + 2
        cut = s.find("//", position, end)
        stop = end if cut < 0 else cut
        a, b = _strip(s, position, stop)
        if a == b:
            if cut < 0:
                raise _fail(text, position - 2, position, "trailing separator")
            raise _fail(text, position - 2, position, "empty category")
        if s.startswith("TLP", a):
            if tlp is not None:
                raise _fail(text, a, b, "second TLP category")
            colour = s[a:b]
            if " " in colour or "\t" in colour:
                colour = "".join(colour.split())
            found = _TLP_WORDS.get(colour)
            if found is None:
                raise _fail(
                    text, a, b, "unknown TLP (TLP 2.0: CLEAR, GREEN, AMBER, AMBER+STRICT, RED)"
                )
            tlp, tlp_spot = found, (a, b)
            continue
        if dissem_seen:
            raise _fail(text, a, b, "second dissemination category (separate controls with '/')")
        dissem_seen = True
        pending: list[tuple[str, int, int]] = []  # bare codes waiting for "… EYES ONLY"
        position = a
        while True:
            slash = s.find("/", position, b)
            stop = b if slash < 0 else slash
            ta, tb = _strip(s, position, stop)
            if ta == tb:
                if slash < 0:
                    raise _fail(text, position - 1, position, "trailing separator")
                raise _fail(text, slash, slash + 1, "empty control")
            marking = s[ta:tb]
            if " " in marking or "\t" in marking:
                marking = " ".join(marking.split())
            name = _CONTROL_WORDS.get(marking)
            if name is not None:
                if name not in controls:
                    controls[name] = (ta, tb)
            elif marking.startswith("REL ") or marking == "REL":
                after = _after_word(s, ta, tb, "REL")
                a2, _ = _strip(s, after, tb)
                after_to = _after_word(s, a2, tb, "TO")
                list_start = after_to if after_to >= 0 else a2
                if rel_to is not None:
                    raise _fail(text, ta, tb, "REL TO given twice")
                rel_to = _codes(text, s, list_start, tb, table, "REL TO", (ta, tb))
                rel_spot = (ta, tb)
            elif marking.startswith("DISPLAY ONLY"):
                after = _after_word(s, ta, tb, "DISPLAY")
                a2, _ = _strip(s, after, tb)
                after_only = _after_word(s, a2, tb, "ONLY")
                if after_only < 0:
                    raise _fail(text, ta, tb, "unknown dissemination control")
                if display is not None:
                    raise _fail(text, ta, tb, "DISPLAY ONLY given twice")
                display = _codes(text, s, after_only, tb, table, "DISPLAY ONLY", (ta, tb))
                display_spot = (ta, tb)
            elif marking.endswith((" EYES", " EYES ONLY")) or marking in ("EYES", "EYES ONLY"):
                if eyes is not None:
                    raise _fail(text, ta, tb, "EYES ONLY given twice")
                marker = s.rfind("EYES", ta, tb)
                group: set[str] = {code for code, _, _ in pending}
                head_a, head_b = _strip(s, ta, marker)
                if head_a < head_b:
                    more = _codes(text, s, head_a, head_b, table, "EYES ONLY", (ta, tb))
                    group |= more
                elif not pending:
                    raise _fail(text, ta, tb, "EYES ONLY lists no country")
                eyes = group
                eyes_spot = (pending[0][1] if pending else ta, tb)
                pending = []
            elif 3 <= len(marking) <= 4 and marking.isalpha():
                _codes(text, s, ta, tb, table, "EYES ONLY", (ta, tb))  # known codes only
                pending.append((marking, ta, tb))
            else:
                raise _fail(text, ta, tb, "unknown dissemination control")
            if slash < 0:
                break
            position = slash + 1
        if pending:
            _, pa, pb = pending[0]
            raise _fail(text, pa, pb, "country code outside a REL TO or EYES ONLY list")

    # Marking rules. When several are broken, the one reached first reading left to right
    # is reported (the conflict's later token, or the marking itself).
    problems: list[tuple[int, int, str]] = []
    noforn = controls.get("NOFORN")
    if rel_to is not None:
        if len(_expand(frozenset(rel_to), table)) < 2:
            problems.append((*rel_spot, "REL TO needs more than one country (use NOFORN)"))
        if noforn is not None:
            problems.append((*_later(noforn, rel_spot), "NOFORN and REL TO exclude each other"))
        if eyes is not None:
            problems.append(
                (*_later(eyes_spot, rel_spot), "REL TO and EYES ONLY exclude each other")
            )
    if eyes is not None:
        if len(_expand(frozenset(eyes), table)) < 2:
            problems.append((*eyes_spot, "EYES ONLY needs more than one country (use NOFORN)"))
        if noforn is not None:
            problems.append((*_later(noforn, eyes_spot), "NOFORN and EYES ONLY exclude each other"))
    if noforn is not None:
        relido = controls.get("RELIDO")
        if relido is not None:
            problems.append((*_later(noforn, relido), "NOFORN and RELIDO exclude each other"))
        if display is not None:
            problems.append(
                (*_later(noforn, display_spot), "NOFORN and DISPLAY ONLY exclude each other")
            )
    if display is not None:
        released = _expand(frozenset((rel_to or set()) | (eyes or set())), table)
        if released & _expand(frozenset(display), table):
            problems.append(
                (*display_spot, "DISPLAY ONLY names a nation the label already releases to")
            )
    if classification is Classification.UNCLASSIFIED:
        if "ORCON" in controls:
            problems.append((*controls["ORCON"], "ORCON is not used on UNCLASSIFIED"))
    else:
        if "FOUO" in controls:
            problems.append((*controls["FOUO"], "FOUO is not used on classified labels"))
        if tlp is Tlp.CLEAR:
            problems.append((*tlp_spot, "TLP:CLEAR (public) is not used on classified labels"))
    if problems:
        raise _fail(text, *min(problems, key=lambda problem: problem[0]))

    return Label(
        classification,
        frozenset(rel_to) if rel_to else _EMPTY,
        frozenset(controls) if controls else _EMPTY,
        frozenset(display) if display else _EMPTY,
        frozenset(eyes) if eyes else _EMPTY,
        tlp,
        owner,
    )


def _later(first: tuple[int, int], second: tuple[int, int]) -> tuple[int, int]:
    """The span that comes later in the text (the marking that made the conflict)."""
    return first if first[0] >= second[0] else second


_UNCLASSIFIED: Final = Label(Classification.UNCLASSIFIED)


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


def format_banner(label: Label) -> str:
    """The canonical banner, e.g. ``SECRET//REL TO USA, JPN, KOR``."""
    return _format(label, True)


def format_portion(label: Label) -> str:
    """The canonical portion mark, e.g. ``(S//REL TO USA, JPN, KOR)``."""
    return _format(label, False)


def dissem_markings(label: Label, *, banner: bool = True) -> list[str]:
    """The dissemination markings other than REL TO, rendered, in render order."""
    return [part for name, part in _parts(label, banner) if name != "REL TO"]


_BEFORE_REL_TO: Final = tuple(
    (name, _PORTION_CONTROL.get(name, name)) for name in CONTROL_ORDER[: _RANK["REL TO"]]
)
_AFTER_EYES: Final = (("DSEN", "DSEN"), ("FISA", "FISA"))


def _parts(label: Label, banner: bool) -> list[tuple[str, str]]:
    """(control name, rendered marking) in render order.

    Raises LabelError for a control name outside the grammar (a hand-built Label), rather
    than dropping it.
    """
    parts: list[tuple[str, str]] = []
    dissem = label.dissem
    if dissem:
        for name, short in _BEFORE_REL_TO:
            if name in dissem:
                parts.append((name, name if banner else short))
    if label.rel_to:
        parts.append(("REL TO", "REL TO " + ", ".join(ordered_codes(label.rel_to))))
    if "RELIDO" in dissem:
        parts.append(("RELIDO", "RELIDO"))
    if label.eyes_only:
        suffix = " EYES ONLY" if banner else " EYES"
        parts.append(("EYES", "/".join(ordered_codes(label.eyes_only)) + suffix))
    if dissem:
        for name, short in _AFTER_EYES:
            if name in dissem:
                parts.append((name, short))
    if label.display_only:
        parts.append(
            ("DISPLAY ONLY", "DISPLAY ONLY " + ", ".join(ordered_codes(label.display_only)))
        )
    if len(dissem) > len(parts):
        _refuse_unknown_controls(label)
    return parts


def _refuse_unknown_controls(label: Label) -> None:
    known = set(_CONTROL_WORDS.values())
    for name in sorted(label.dissem):
        if name not in known:
            raise LabelError(repr(label), name, 0, "unknown dissemination control in label")


@lru_cache(maxsize=16384)
def _format(label: Label, banner: bool) -> str:
    head = _BANNER_WORD[label.classification] if banner else _PORTION_WORD[label.classification]
    if label.dissem or label.rel_to or label.eyes_only or label.display_only:
        head += "//" + "/".join([part for _, part in _parts(label, banner)])
    if label.tlp is not None:
        head += "//" + label.tlp.value
    return head if banner else "(" + head + ")"


def render_national(label: Label, table: Mapping[Classification, str]) -> str:
    """Render *label* in a nation's terms: its classification word from *table*.

    *table* maps each level to the national marking that an equivalence agreement names
    (e.g. a Korean grade); the controls keep their canonical spelling. Raises LabelError
    when the table has no term for the label's level (no silent fallback).
    """
    banner = format_banner(label)
    term = table.get(label.classification)
    if term is None:
        word = _BANNER_WORD[label.classification]
        raise LabelError(banner, word, 0, "no national equivalent for this classification")
    return term + banner[len(_BANNER_WORD[label.classification]) :]


# ---------------------------------------------------------------------------------------
# Roll-up
# ---------------------------------------------------------------------------------------

_RELEASE_MARKINGS: Final = ("RELIDO",)


def roll_up(
    labels: Iterable[Label], *, tetragraphs: Mapping[str, frozenset[str]] | None = None
) -> Label:
    """Roll portion labels up into the banner label (SPEC §2).

    Classification is the highest; NOFORN if any portion is NOFORN (explicitly, or
    classified without a foreign-release marking); REL TO is the intersection of the
    classified portions' lists with tetragraphs expanded (unclassified portions do not
    narrow it, and a classified portion with no list narrows it to nobody); fewer than two
    nations left gives NOFORN, which drops REL TO, EYES, RELIDO and DISPLAY ONLY; EYES ONLY
    in any listed portion makes the banner EYES ONLY; other controls are united, FOUO
    dropping out of a classified banner; DISPLAY ONLY keeps the nations that may see every
    classified portion (in an unclassified banner: every DISPLAY ONLY nation, which REL TO
    then leaves out); TLP is the most restrictive given. Owner is kept when all agree.

    Raises LabelError for an empty sequence.
    """
    portions = list(labels)
    if not portions:
        raise LabelError("", "", 0, "nothing to roll up")
    classification = max(portion.classification for portion in portions)
    classified = classification is not Classification.UNCLASSIFIED
    owners = {portion.owner for portion in portions}
    owner = owners.pop() if len(owners) == 1 else None

    dissem: set[str] = set()
    for portion in portions:
        dissem |= portion.dissem
    if classified:
        dissem.discard("FOUO")

    tlp: Tlp | None = None
    for portion in portions:
        if portion.tlp is not None and (tlp is None or _TLP_RANK[portion.tlp] > _TLP_RANK[tlp]):
            tlp = portion.tlp
    if classified and tlp is Tlp.CLEAR:
        tlp = None

    # The portions whose release lists narrow the banner: every classified portion (one
    # without a list narrows it to nobody) or, in an unclassified banner, the listed ones.
    if classified:
        pool = [p for p in portions if p.classification is not Classification.UNCLASSIFIED]
    else:
        pool = [p for p in portions if p.rel_to or p.eyes_only]
    # In an unclassified banner DISPLAY ONLY nations of any portion are never released to.
    display_anywhere: frozenset[str] = _EMPTY
    if not classified:
        for portion in portions:
            if portion.display_only:
                display_anywhere |= _expand(portion.display_only, tetragraphs)

    noforn = any(portion.noforn for portion in portions)
    rel_to: frozenset[str] = _EMPTY
    eyes: frozenset[str] = _EMPTY
    display: frozenset[str] = _EMPTY
    if not noforn and any(p.rel_to or p.eyes_only for p in pool):
        common = pool[0].rel_to | pool[0].eyes_only
        nations = _expand(common, tetragraphs)
        for portion in pool[1:]:
            codes = portion.rel_to | portion.eyes_only
            nations &= _expand(codes, tetragraphs) if codes else _EMPTY
            common &= codes
        nations -= display_anywhere
        if len(nations) < 2:
            noforn = True
        else:
            # Keep the codes every portion wrote where they still fit, then add the rest.
            kept: set[str] = set()
            for code in common:
                members = _expand(frozenset({code}), tetragraphs)
                if members and members <= nations:
                    kept.add(code)
            codes_out = frozenset(kept | (nations - _expand(frozenset(kept), tetragraphs)))
            if any(p.eyes_only for p in pool):
                eyes = codes_out
            else:
                rel_to = codes_out
    if noforn:
        dissem.add("NOFORN")
        dissem.discard("RELIDO")
    else:
        if not classified:
            display = display_anywhere
        elif any(p.display_only for p in pool):
            viewers = _EMPTY
            for index, portion in enumerate(pool):
                sees = _expand(
                    portion.rel_to | portion.eyes_only | portion.display_only, tetragraphs
                )
                viewers = sees if index == 0 else viewers & sees
            display = viewers - _expand(rel_to | eyes, tetragraphs)
        if classified and not (rel_to or eyes or display or "RELIDO" in dissem):
            dissem.add("NOFORN")
    return Label(
        classification,
        rel_to,
        frozenset(dissem),
        display,
        eyes,
        tlp,
        owner,
    )
