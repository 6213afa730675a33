"""Policy decisions per second: memoised ``decide`` against evaluation from the rules.

SPEC §10 asks for >= 1,000,000 decisions/s on one core for cached labels. The corpus is a
realistic mix on the shipped agreements: trilateral labels parsed once (as a node holds
them), DPRK, maritime and cyber topics, every holder/destination pair of USA, JPN, KOR and a
few outsiders, and instants spread over 2014-2025. Three rates are printed on the same
corpus:

* ``cached``   - ``Policy.decide`` with a warm cache (the node's steady state);
* ``cold``     - ``Policy.decide`` on a fresh Policy, so every distinct key is evaluated once;
* ``baseline`` - ``Policy.decide_uncached``: the rules evaluated on every call, scanning the
  agreements each time (what a straightforward implementation does).

Run: ``.venv/bin/python bench/bench_policy.py [--decisions N]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from trilat.agreement_files import load_agreements
from trilat.core.labels import parse_label
from trilat.core.policy import Consent, Policy, Subject

BANNERS = (
    "SECRET//REL TO USA, JPN, KOR",
    "SECRET//REL TO USA, JPN",
    "SECRET//REL TO USA, KOR",
    "CONFIDENTIAL//REL TO USA, JPN, KOR",
    "TOP SECRET//REL TO USA, JPN",
    "SECRET//NOFORN",
    "SECRET//ORCON/REL TO USA, JPN, KOR",
    "SECRET//REL TO USA, JPN, KOR/RELIDO",
    "SECRET//REL TO USA, JPN/DISPLAY ONLY KOR",
    "UNCLASSIFIED",
    "UNCLASSIFIED//TLP:AMBER",
    "UNCLASSIFIED//TLP:GREEN",
)
TOPICS = (
    ("dprk.missile",),
    ("dprk.missile.warning",),
    ("dprk.nuclear",),
    ("maritime.sts",),
    ("cyber",),
    ("dprk.missile", "maritime.sts"),
)
NATIONS = ("USA", "JPN", "KOR", "USA", "JPN", "KOR", "GBR", "CHN")

Case = tuple[Subject, str, str, datetime, tuple[Consent, ...]]


def corpus(size: int, seed: int = 2023) -> list[Case]:
    rng = random.Random(seed)
    subjects = [
        Subject(parse_label(banner, owner=owner), topics, ("JPN",), None)
        for banner in BANNERS
        for owner in ("USA", "JPN", "KOR")
        for topics in TOPICS
    ]
    start = datetime(2014, 1, 1, tzinfo=UTC)
    cases: list[Case] = []
    for _ in range(size):
        subject = rng.choice(subjects)
        holder = rng.choice(NATIONS)
        destination = rng.choice(NATIONS)
        at = start + timedelta(seconds=rng.randint(0, 12 * 365 * 86_400))
        cases.append((subject, holder, destination, at, ()))
    return cases


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=300_000)
    parser.add_argument("--baseline-decisions", type=int, default=30_000)
    options = parser.parse_args()
    agreements = load_agreements()
    cases = corpus(options.decisions)
    sample = cases[: options.baseline_decisions]

    warm = Policy(agreements)
    decide = warm.decide
    for subject, holder, destination, at, consents in cases:  # fill the cache
        decide(subject, holder, destination, at, consents)

    def run_cached() -> None:
        for subject, holder, destination, at, consents in cases:
            decide(subject, holder, destination, at, consents)

    def run_cold() -> None:
        fresh = Policy(agreements).decide
        for subject, holder, destination, at, consents in sample:
            fresh(subject, holder, destination, at, consents)

    uncached = warm.decide_uncached

    def run_baseline() -> None:
        for subject, holder, destination, at, consents in sample:
            uncached(subject, holder, destination, at, consents)

    # the cache must not change a single answer
    for subject, holder, destination, at, consents in sample:
        cached_answer = decide(subject, holder, destination, at, consents)
        assert cached_answer == uncached(subject, holder, destination, at, consents)

    cached_rate = len(cases) / best_of(5, run_cached)
    cold_rate = len(sample) / best_of(3, run_cold)
    baseline_rate = len(sample) / best_of(3, run_baseline)
    entries, capacity = warm.cache_info()
    print(
        f"policy decide  cached {cached_rate:,.0f}/s  cold {cold_rate:,.0f}/s  "
        f"baseline (rules every call) {baseline_rate:,.0f}/s  "
        f"ratio cached/baseline {cached_rate / baseline_rate:.1f}x  "
        f"(cache {entries:,}/{capacity:,} entries; target >= 1,000,000/s cached)"
    )


if __name__ == "__main__":
    main()
