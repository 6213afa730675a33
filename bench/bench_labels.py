"""Label parse and render rates: trilat against a naive regex parser on the same corpus.

Run: ``.venv/bin/python bench/bench_labels.py`` (a few seconds, one core). SPEC §10 asks for
≥ 200,000 parses/s; the figures are printed with the baseline and the ratio side by side.

Corpus: 4,000 distinct label texts drawn with a fixed seed from the shapes trilat meets
(banners and portions, REL TO lists of 2–6 nations with tetragraphs, dissemination controls,
TLP, random case and spacing). "uncached" empties trilat's label cache before each pass, so
every text is really parsed; "cached" is the steady state of a node that sees the same
labels again and again. The baseline is the obvious implementation: regular expressions,
no cache, no rule checks beyond the lookups it needs.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

from trilat.core import labels as core_labels
from trilat.core.labels import (
    TETRAGRAPHS,
    Classification,
    Label,
    Tlp,
    format_banner,
    is_nation,
    parse_label,
)

# --- the naive baseline ------------------------------------------------------------------

_WORDS = {
    "UNCLASSIFIED": Classification.UNCLASSIFIED,
    "U": Classification.UNCLASSIFIED,
    "CONFIDENTIAL": Classification.CONFIDENTIAL,
    "C": Classification.CONFIDENTIAL,
    "SECRET": Classification.SECRET,
    "S": Classification.SECRET,
    "TOP SECRET": Classification.TOP_SECRET,
    "TS": Classification.TOP_SECRET,
}
_CONTROLS = {
    "NOFORN": "NOFORN", "NF": "NOFORN", "ORCON": "ORCON", "OC": "ORCON", "RELIDO": "RELIDO",
    "FOUO": "FOUO", "PROPIN": "PROPIN", "PR": "PROPIN", "IMCON": "IMCON", "IMC": "IMCON",
    "RSEN": "RSEN", "RS": "RSEN", "DSEN": "DSEN", "FISA": "FISA",
}  # fmt: skip
_PORTION = re.compile(r"^\s*\(\s*(.*?)\s*\)\s*$")
_CATEGORY = re.compile(r"\s*//\s*")
_CONTROL = re.compile(r"\s*/\s*")
_REL = re.compile(r"^REL(?:\s+TO)?\s+(.+)$")
_LIST = re.compile(r"\s*,\s*")
_SPACES = re.compile(r"\s+")


def naive_parse(text: str) -> Label:
    """Parse with regular expressions and no cache (the baseline)."""
    upper = text.upper()
    match = _PORTION.match(upper)
    body = match.group(1) if match else upper.strip()
    categories = _CATEGORY.split(body)
    classification = _WORDS[_SPACES.sub(" ", categories[0])]
    rel_to: set[str] = set()
    dissem: set[str] = set()
    tlp = None
    for category in categories[1:]:
        if category.startswith("TLP:"):
            tlp = Tlp(_SPACES.sub("", category))
            continue
        for control in _CONTROL.split(category):
            control = _SPACES.sub(" ", control)
            rel = _REL.match(control)
            if rel:
                for code in _LIST.split(rel.group(1)):
                    if not (is_nation(code) or code in TETRAGRAPHS):
                        raise ValueError(f"unknown country {code}")
                    rel_to.add(code)
            else:
                dissem.add(_CONTROLS[control])
    return Label(classification, frozenset(rel_to), frozenset(dissem), tlp=tlp)


_ORDER = ("RSEN", "FOUO", "ORCON", "IMCON", "NOFORN", "PROPIN", "REL TO", "RELIDO", "DSEN", "FISA")


def naive_render(label: Label) -> str:
    """Render a banner by sorting and joining every time (the baseline)."""
    parts = list(label.dissem)
    if label.rel_to:
        codes = sorted(label.rel_to, key=lambda c: (c != "USA", len(c), c))
        parts.append("REL TO " + ", ".join(codes))
    parts.sort(key=lambda part: _ORDER.index("REL TO" if part.startswith("REL TO ") else part))
    text = label.classification.name.replace("_", " ")
    if parts:
        text += "//" + "/".join(parts)
    if label.tlp is not None:
        text += "//" + label.tlp.value
    return text


# --- corpus --------------------------------------------------------------------------------

PARTNERS = ("JPN", "KOR", "AUS", "CAN", "GBR", "NZL", "FRA", "DEU", "PHL", "IND")


def make_corpus(count: int, seed: int = 20141229) -> list[str]:
    rng = random.Random(seed)
    texts: set[str] = set()
    while len(texts) < count:
        classification = rng.choice(list(Classification))
        classified = classification is not Classification.UNCLASSIFIED
        controls = rng.sample(["ORCON", "PROPIN", "IMCON", "RSEN", "FISA"], rng.randint(0, 2))
        if not classified:
            controls = [c for c in controls if c != "ORCON"] + rng.choice([[], ["FOUO"]])
        if rng.random() < 0.6:
            nations = rng.sample(PARTNERS, rng.randint(1, 5))
            if rng.random() < 0.2:
                nations.append(rng.choice(sorted(TETRAGRAPHS)))
            controls.append("REL TO " + ", ".join(["USA", *nations]))
        elif classified or rng.random() < 0.3:
            controls.append(rng.choice(["NOFORN", "NF"]))
        label = Label(classification)
        text = classification.banner if rng.random() < 0.5 else classification.portion
        if controls:
            text += "//" + "/".join(rng.sample(controls, len(controls)))
        if rng.random() < 0.15:
            text += "//" + rng.choice([t for t in Tlp if classified is False or t is not Tlp.CLEAR])
        if rng.random() < 0.4:
            text = "(" + text + ")"
        if rng.random() < 0.3:
            text = text.lower()
        del label
        texts.add(text)
    return sorted(texts)


# --- measurement ---------------------------------------------------------------------------


def best_of(
    repeat: int, run: Callable[[], object], before: Callable[[], object] = lambda: None
) -> float:
    best = float("inf")
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    corpus = make_corpus(4000)
    n = len(corpus)
    parsed = [parse_label(text) for text in corpus]
    assert [naive_parse(text) for text in corpus] == parsed, "baseline disagrees with trilat"

    assert [naive_render(label) for label in parsed] == [format_banner(x) for x in parsed]
    clear = core_labels._parse_cached.cache_clear  # the label cache, emptied per pass
    clear_render = core_labels._format.cache_clear  # the rendering cache, emptied per pass

    uncached = best_of(5, lambda: [parse_label(t) for t in corpus], clear)
    for text in corpus:
        parse_label(text)
    cached = best_of(5, lambda: [parse_label(t) for t in corpus])
    naive = best_of(5, lambda: [naive_parse(t) for t in corpus])
    full = core_labels._parse_full  # the full parser alone, without the fast path
    full_only = best_of(5, lambda: [full(t, None, TETRAGRAPHS) for t in corpus])
    render_uncached = best_of(5, lambda: [format_banner(x) for x in parsed], clear_render)
    render_cached = best_of(5, lambda: [format_banner(x) for x in parsed])
    render_naive = best_of(5, lambda: [naive_render(x) for x in parsed])
    permits = best_of(5, lambda: [x.permits("KOR") for x in parsed])

    print(f"label corpus: {n:,} distinct texts (banners and portions, mixed case), one core")
    print(f"{'':22}{'trilat':>14}{'naive':>14}{'ratio':>9}")
    rows = [
        ("parse, uncached", uncached, naive),
        ("parse, cached", cached, naive),
        ("parse, full parser", full_only, naive),
        ("render, uncached", render_uncached, render_naive),
        ("render, cached", render_cached, render_naive),
    ]
    for name, ours, theirs in rows:
        print(f"{name:22}{n / ours:>12,.0f}/s{n / theirs:>12,.0f}/s{theirs / ours:>8.1f}x")
    print(f"{'permits (label part)':22}{n / permits:>12,.0f}/s")
    target = 200_000
    for name, seconds in (("uncached", uncached), ("cached", cached)):
        verdict = "meets" if n / seconds >= target else "MISSES"
        print(f"SPEC §10 label parse >= {target:,}/s: {name} parse {verdict} it")


if __name__ == "__main__":
    main()
