"""Leak fuzz: 100,000 random cases, the engine against the independent oracle of SPEC §4.

Any disagreement fails, whichever way it goes (a wrong allow is a leak, a wrong deny is lost
information). Both the memoised path (``decide``) and the evaluation from the rules
(``decide_uncached``) are checked, on the shipped agreements plus fictional fixtures that
add a suspension, a forbidden third-party rule and a multilateral agreement.
"""

from __future__ import annotations

import random
from collections import Counter

from tests.core.oracle import judge
from tests.core.policy_support import (
    agreement_set,
    boundary_days,
    outcome,
    random_case,
    random_label,
    to_oracle,
)
from trilat.core.policy import Policy

CASES = 100_000
SEED = 20141229


def test_engine_agrees_with_the_oracle_on_100000_random_cases() -> None:
    agreements = agreement_set("shipped+fixtures")
    cached = Policy(agreements, cache_size=4096)
    rng = random.Random(SEED)
    labels = [random_label(rng) for _ in range(600)]
    edges = boundary_days(agreements)
    counts: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    disagreements: list[str] = []
    for _ in range(CASES):
        case = random_case(rng, labels, edges)
        subject = case.subject
        expected = judge(
            agreements,
            subject.label,
            subject.topics,
            subject.recipients,
            subject.id,
            case.holder,
            case.destination,
            case.at,
            [to_oracle(c) for c in case.consents],
        )
        fast = cached.decide(subject, case.holder, case.destination, case.at, case.consents)
        slow = cached.decide_uncached(
            subject, case.holder, case.destination, case.at, case.consents
        )
        counts[expected.decision] += 1
        rules[fast.rule] += 1
        if fast != slow:
            counts["cache-mismatch"] += 1
        if outcome(fast) != expected or outcome(slow) != expected:
            counts["disagree"] += 1
            if len(disagreements) < 5:
                disagreements.append(f"{case!r}\n  engine {fast!r}\n  oracle {expected!r}")
    print(
        f"leak fuzz: {CASES} cases, allow {counts['allow']}, deny {counts['deny']}, "
        f"disagree {counts['disagree']}, cache mismatches {counts['cache-mismatch']}"
    )
    assert not disagreements, "\n".join(disagreements)
    assert counts["cache-mismatch"] == 0
    # The corpus must exercise both outcomes in earnest, or the comparison proves little.
    assert counts["allow"] > CASES // 20
    assert counts["deny"] > CASES // 4
    every_rule = {
        "1.destination", "2.display-only", "2.label", "2.tlp", "3.owner", "4.agreement",
        "5.consent", "5.direct", "5.hub", "5.onward", "5.orcon", "5.relido", "5.third-party",
        "6.unclassified", "7.unknown",
    }  # fmt: skip
    assert {rule for rule, seen in rules.items() if seen >= 50} == every_rule, rules
