"""The decision table of tests/vectors/policy: every case through the engine and the oracle."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.core.oracle import judge
from tests.core.policy_support import VECTORS, agreement_set, day, outcome, to_oracle
from trilat.core.agreements import parse_classification
from trilat.core.clock import parse_time
from trilat.core.labels import parse_label
from trilat.core.policy import Consent, Policy, Subject

_CASE_KEYS = {
    "name", "label", "owner", "topics", "holder", "to", "at", "consents", "recipients", "id",
    "decision", "agreement", "route", "rule", "requires", "reason_contains",
    "warning_contains", "warning_absent",
}  # fmt: skip


def _load() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for path in sorted(VECTORS.glob("*.toml")):
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        for case in document["case"]:
            cases.append((path.stem, document["agreements"], case))
    return cases


CASES = _load()
_POLICIES: dict[str, Policy] = {}


def _policy(name: str) -> Policy:
    if name not in _POLICIES:
        _POLICIES[name] = Policy(agreement_set(name))
    return _POLICIES[name]


def _time(text: str) -> datetime:
    return day(text) if len(text) == 10 else parse_time(text)


def _consent(raw: dict[str, Any]) -> Consent:
    window = {k: parse_time(raw[k]) for k in ("valid_from", "valid_until") if k in raw}
    ceiling = parse_classification(raw["ceiling"]) if "ceiling" in raw else None
    return Consent(
        raw["from"],
        frozenset(raw["to"]),
        item_id=raw.get("item"),
        topic=raw.get("topic"),
        ceiling=ceiling,
        kind=raw.get("kind", "consent"),
        **window,
    )


def test_the_table_has_at_least_sixty_cases_with_unique_names() -> None:
    names = [case["name"] for _, _, case in CASES]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    for _, _, case in CASES:
        assert set(case) <= _CASE_KEYS, case["name"]


def test_every_rule_and_agreement_appears_in_the_table() -> None:
    rules = {case.get("rule") for _, _, case in CASES}
    assert {
        "1.destination",
        "2.display-only",
        "2.label",
        "2.tlp",
        "3.owner",
        "4.agreement",
    } <= rules
    assert {"5.consent", "5.direct", "5.hub", "5.onward", "5.orcon", "5.relido"} <= rules
    assert {"5.third-party", "6.unclassified", "7.unknown"} <= rules
    named = {case.get("agreement") for _, _, case in CASES}
    shipped = {a.id for a in agreement_set("shipped")}
    assert shipped <= named


@pytest.mark.parametrize(
    ("vector_file", "agreements", "case"), CASES, ids=[c["name"] for _, _, c in CASES]
)
def test_decision_matches_vector(vector_file: str, agreements: str, case: dict[str, Any]) -> None:
    policy = _policy(agreements)
    label = dataclasses.replace(parse_label(case["label"]), owner=case["owner"])
    subject = Subject(
        label,
        tuple(case["topics"]),
        tuple(case.get("recipients", ())),
        case.get("id", "item-1"),
    )
    at = _time(case["at"])
    consents = [_consent(raw) for raw in case.get("consents", ())]
    decision = policy.decide(subject, case["holder"], case["to"], at, consents)
    assert decision.decision == case["decision"], decision.reasons
    assert decision == policy.decide_uncached(subject, case["holder"], case["to"], at, consents)
    if "agreement" in case:
        assert decision.agreement == (case["agreement"] or None)
    if "route" in case:
        assert list(decision.route) == case["route"]
    if "rule" in case:
        assert decision.rule == case["rule"], decision.reasons
    if "requires" in case:
        assert list(decision.requires) == case["requires"]
    for fragment in case.get("reason_contains", ()):
        assert any(fragment in reason for reason in decision.reasons), decision.reasons
    if "warning_contains" in case:
        assert any(case["warning_contains"] in w for w in decision.warnings), decision.warnings
    if "warning_absent" in case:
        assert not any(case["warning_absent"] in w for w in decision.warnings)
    assert decision.reasons, "every decision explains itself"
    expected = judge(
        list(policy.agreements),
        label,
        subject.topics,
        subject.recipients,
        subject.id,
        case["holder"],
        case["to"],
        at,
        [to_oracle(c) for c in consents],
    )
    assert outcome(decision) == expected


def test_vector_readme_describes_the_files() -> None:
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    for path in sorted(Path(VECTORS).glob("*.toml")):
        assert path.name in readme
