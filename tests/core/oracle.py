"""An independent oracle for SPEC §4, written from the rules alone.

It shares no code with ``trilat.core.policy`` (deliberately not imported) and re-derives from
the agreements' plain data everything the engine computes: whether an agreement is in force
on a day, which topics it covers, how specific it is, who may relay what. It is slow and
simple on purpose; the leak fuzz compares it with the engine case by case.

It answers the outcome only: ``decision``, and for an allow the ``agreement`` and ``route``,
for a deny the set of missing requirements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from trilat.core.agreements import Agreement
from trilat.core.labels import TETRAGRAPHS, Classification, Label, Tlp, is_nation

_TOPIC = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


@dataclass(frozen=True)
class Verdict:
    decision: str
    agreement: str | None = None
    route: tuple[str, ...] = ()
    requires: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OracleConsent:
    """The oracle's own view of a consent (built from the engine's Consent fields)."""

    kind: str
    issuer: str
    destinations: frozenset[str]
    item_id: str | None
    topic: str | None
    ceiling: int | None
    valid_from: datetime | None
    valid_until: datetime | None


DENY = Verdict("deny")


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _in_force(agreement: Agreement, day: date) -> bool:
    def inside(start: date, end: date | None) -> bool:
        return start <= day and (end is None or day <= end)

    suspended = [p for p in agreement.periods if p.status == "suspended"]
    active = [p for p in agreement.periods if p.status == "in-force"]
    if any(inside(p.start, p.end) for p in suspended):
        return False
    return any(inside(p.start, p.end) for p in active)


def _pattern_matches(pattern: str, topic: str) -> bool:
    if pattern == "*":
        return True
    want = pattern.split(".")
    have = topic.split(".")
    return have[: len(want)] == want


def _topic_depth(agreement: Agreement, topic: str) -> int:
    best = -1
    for pattern in agreement.topics:
        if _pattern_matches(pattern, topic):
            best = max(best, 0 if pattern == "*" else len(pattern.split(".")))
    return best


def _covers(agreement: Agreement, x: str, y: str, topics: tuple[str, ...], level: int) -> bool:
    if x not in agreement.parties or y not in agreement.parties:
        return False
    if int(agreement.max_classification) < level:
        return False
    return all(_topic_depth(agreement, t) >= 0 for t in topics)


def _choose(candidates: list[Agreement], topics: tuple[str, ...]) -> Agreement:
    ranked = sorted(candidates, key=lambda a: (-min(_topic_depth(a, t) for t in topics), a.id))
    return ranked[0]


def _illegal(label: Label) -> bool:
    """SPEC §2 refuses REL TO with EYES ONLY, and NOFORN with any release or disclosure mark."""
    releases = bool(label.rel_to or label.eyes_only)
    if label.rel_to and label.eyes_only:
        return True
    return "NOFORN" in label.dissem and (
        releases or bool(label.display_only) or "RELIDO" in label.dissem
    )


def _label_releases(label: Label, destination: str, recipients: tuple[str, ...]) -> bool:
    if label.tlp in (Tlp.RED, Tlp.AMBER_STRICT):
        return False
    if label.tlp == Tlp.AMBER and destination not in recipients:
        return False
    if destination in label.display_only:
        return False
    if "NOFORN" in label.dissem:
        return False
    listed: set[str] = set()
    for code in label.rel_to | label.eyes_only:
        listed |= set(TETRAGRAPHS.get(code, {code}))
    if listed:
        return destination in listed
    return label.classification == Classification.UNCLASSIFIED


def _granted(
    consents: list[OracleConsent],
    *,
    kind: str,
    issuer: str,
    destination: str,
    item_id: str | None,
    topics: tuple[str, ...],
    level: int,
    at: datetime,
    item_only: bool,
) -> bool:
    for c in consents:
        if c.kind != kind or c.issuer != issuer or destination not in c.destinations:
            continue
        if c.valid_from is not None and at < c.valid_from:
            continue
        if c.valid_until is not None and at >= c.valid_until:
            continue
        if c.item_id is not None:
            if item_id is not None and c.item_id == item_id:
                return True
            continue
        if item_only or not topics or c.topic is None or c.ceiling is None:
            continue
        if level <= c.ceiling and all(_pattern_matches(c.topic, t) for t in topics):
            return True
    return False


def judge(
    agreements: list[Agreement],
    label: Label,
    topics: tuple[str, ...],
    recipients: tuple[str, ...],
    item_id: str | None,
    holder: str,
    destination: str,
    at: datetime,
    consents: list[OracleConsent],
) -> Verdict:
    """The outcome SPEC §4 prescribes for one case."""
    owner = label.owner
    level = int(label.classification)
    if at.tzinfo is None:
        return DENY
    if owner is None or not is_nation(owner) or not is_nation(holder):
        return DENY
    if not is_nation(destination) or not all(is_nation(r) for r in recipients):
        return DENY
    if not all(_TOPIC.fullmatch(t) for t in topics):
        return DENY
    if holder == destination:
        return DENY
    if destination == owner:
        return Verdict("allow", None, (holder, owner))
    if _illegal(label) or not _label_releases(label, destination, recipients):
        return DENY

    onward = holder != owner
    route = (owner, holder, destination) if onward else (owner, destination)

    def extra_requirements() -> set[str]:
        needs: set[str] = set()
        if onward and "ORCON" in label.dissem:
            if not _granted(
                consents,
                kind="consent",
                issuer=owner,
                destination=destination,
                item_id=item_id,
                topics=topics,
                level=level,
                at=at,
                item_only=True,
            ):
                needs.add("originator-consent")
        if "RELIDO" in label.dissem and not _granted(
            consents,
            kind="disclosure",
            issuer=holder,
            destination=destination,
            item_id=item_id,
            topics=topics,
            level=level,
            at=at,
            item_only=False,
        ):
            needs.add("disclosure-officer")
        return needs

    if level == Classification.UNCLASSIFIED:
        needs = extra_requirements()
        if needs:
            return Verdict("deny", None, route, frozenset(needs))
        return Verdict("allow", None, route)

    if not topics:
        return DENY
    day = _day(at)
    live = [a for a in agreements if _in_force(a, day)]
    if not onward:
        options = [
            a
            for a in live
            if _covers(a, owner, destination, topics, level)
            and (a.topology != "hub" or a.hub in (owner, destination))
        ]
        if not options:
            return DENY
        chosen = _choose(options, topics)
        needs = extra_requirements()
        if needs:
            return Verdict("deny", chosen.id, route, frozenset(needs))
        return Verdict("allow", chosen.id, route)

    first = [
        a
        for a in live
        if _covers(a, owner, destination, topics, level)
        and (a.topology != "hub" or a.hub == holder)
    ]
    if not first:
        return DENY
    chosen = _choose(first, topics)
    second = [a for a in live if _covers(a, owner, holder, topics, level)]
    without_consent = any(a.third_party == "parties" and destination in a.parties for a in second)
    with_consent = any(a.third_party == "originator-consent" for a in second)
    if not without_consent and not with_consent:
        return DENY
    needs = extra_requirements()
    if not without_consent and not _granted(
        consents,
        kind="consent",
        issuer=owner,
        destination=destination,
        item_id=item_id,
        topics=topics,
        level=level,
        at=at,
        item_only=False,
    ):
        needs.add("originator-consent")
    if needs:
        return Verdict("deny", chosen.id, route, frozenset(needs))
    return Verdict("allow", chosen.id, route)
