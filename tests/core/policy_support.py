"""Helpers shared by the policy tests: agreement sets, random cases, oracle adapters."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

from tests.core.oracle import OracleConsent, Verdict
from trilat.agreement_files import load_agreements
from trilat.core.agreements import Agreement
from trilat.core.labels import Classification, Label, Tlp
from trilat.core.policy import Consent, Decision, Subject

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy"
FIXTURE_AGREEMENTS = VECTORS / "agreements"


@cache
def shipped() -> tuple[Agreement, ...]:
    return tuple(load_agreements())


@cache
def fixtures() -> tuple[Agreement, ...]:
    return tuple(load_agreements(FIXTURE_AGREEMENTS))


def agreement_set(name: str) -> list[Agreement]:
    """``shipped``, ``fixtures`` or ``shipped+fixtures``."""
    found: list[Agreement] = []
    for part in name.split("+"):
        found.extend({"shipped": shipped, "fixtures": fixtures}[part]())
    return found


def day(text: str, hour: int = 12) -> datetime:
    """Noon UTC of a ``YYYY-MM-DD`` day (decisions change only at UTC midnights)."""
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).replace(hour=hour)


def to_oracle(consent: Consent) -> OracleConsent:
    return OracleConsent(
        kind=consent.kind,
        issuer=consent.originator,
        destinations=frozenset(consent.destinations),
        item_id=consent.item_id,
        topic=consent.topic,
        ceiling=None if consent.ceiling is None else int(consent.ceiling),
        valid_from=consent.valid_from,
        valid_until=consent.valid_until,
    )


def outcome(decision: Decision) -> Verdict:
    """The part of a Decision the oracle predicts."""
    if decision.allowed:
        return Verdict("allow", decision.agreement, decision.route)
    if decision.requires:
        return Verdict("deny", decision.agreement, decision.route, frozenset(decision.requires))
    return Verdict("deny")


# --- random cases ----------------------------------------------------------------------------

NATIONS = ("USA", "JPN", "KOR", "USA", "JPN", "KOR", "GBR", "CAN", "CHN", "PRK", "ZZZ")
TRILATERAL = ("USA", "JPN", "KOR")
LISTABLE = ("USA", "JPN", "KOR", "GBR", "CAN", "FVEY", "ACGU")
TOPICS = (
    "dprk.missile",
    "dprk.missile",
    "dprk.missile.warning",
    "dprk.missile.warning",
    "dprk.nuclear",
    "dprk",
    "maritime.sts",
    "maritime.track",
    "cyber",
    "hadr",
    "Bad Topic",
)
ZONES = (UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5)))


@dataclass(frozen=True)
class Case:
    subject: Subject
    holder: str
    destination: str
    at: datetime
    consents: tuple[Consent, ...]


def _subset(rng: random.Random, pool: tuple[str, ...], most: int) -> frozenset[str]:
    return frozenset(rng.sample(pool, rng.randint(0, most)))


def random_label(rng: random.Random) -> Label:
    level = rng.choice(list(Classification))
    dissem: set[str] = set()
    for control, chance in (("NOFORN", 0.06), ("ORCON", 0.12), ("RELIDO", 0.1), ("FOUO", 0.03)):
        if rng.random() < chance:
            dissem.add(control)
    if rng.random() < 0.6:  # the common trilateral markings
        rel_to = frozenset(rng.choice((TRILATERAL, TRILATERAL, ("USA", "JPN"), ("USA", "KOR"))))
    elif rng.random() < 0.8:
        rel_to = _subset(rng, LISTABLE, 4)
    else:
        rel_to = frozenset()
    eyes = _subset(rng, LISTABLE, 2) if rng.random() < 0.04 else frozenset()
    display = _subset(rng, NATIONS[:6], 2) if rng.random() < 0.1 else frozenset()
    tlp = rng.choice(list(Tlp)) if rng.random() < 0.12 else None
    if rng.random() < 0.97:
        owner = rng.choice((*TRILATERAL, *TRILATERAL, "GBR", "CAN", None))
    else:
        owner = "ZZZ"
    return Label(level, rel_to, frozenset(dissem), display, eyes, tlp, owner)


def boundary_days(agreements: list[Agreement]) -> list[date]:
    days: set[date] = set()
    for agreement in agreements:
        for instant in agreement.boundaries():
            for shift in (-1, 0, 1):
                days.add(instant.date() + timedelta(days=shift))
    return sorted(days)


def random_time(rng: random.Random, edges: list[date]) -> datetime:
    roll = rng.random()
    if roll < 0.4:
        base = rng.choice(edges)
    elif roll < 0.8:
        base = date(2014, 1, 1) + timedelta(days=rng.randint(0, 13 * 365))
    else:
        base = date(1985, 1, 1) + timedelta(days=rng.randint(0, 42 * 365))
    moment = datetime.combine(base, datetime.min.time(), UTC) + timedelta(
        seconds=rng.randint(0, 86_399)
    )
    if rng.random() < 0.003:
        return moment.replace(tzinfo=None)  # naive: must deny
    return moment.astimezone(rng.choice(ZONES))


def random_consent(
    rng: random.Random, subject: Subject, holder: str, destination: str, at: datetime
) -> Consent:
    owner = subject.label.owner or "USA"
    issuer = rng.choice((owner, owner, owner, holder, holder, *TRILATERAL))
    destinations = {destination} if rng.random() < 0.7 else set()
    destinations |= set(
        rng.sample(NATIONS[6:] + TRILATERAL, rng.randint(0 if destinations else 1, 2))
    )
    kind = "disclosure" if rng.random() < 0.3 else "consent"
    window: dict[str, datetime] = {}
    if rng.random() < 0.2 and at.tzinfo is not None:
        window["valid_from" if rng.random() < 0.5 else "valid_until"] = at + timedelta(
            days=rng.choice((-400, -1, 1, 400))
        )
    if rng.random() < 0.5:
        item = (subject.id if rng.random() < 0.8 else None) or "other-item"
        return Consent(issuer, frozenset(destinations), item_id=item, kind=kind, **window)
    topic = rng.choice(("*", "dprk", "dprk.missile", "dprk.missile.warning", "maritime", "cyber"))
    ceiling = rng.choice(list(Classification))
    return Consent(
        issuer, frozenset(destinations), topic=topic, ceiling=ceiling, kind=kind, **window
    )


def random_case(rng: random.Random, labels: list[Label], edges: list[date]) -> Case:
    label = rng.choice(labels)
    count = rng.choice((0, 1, 1, 1, 1, 2, 2))
    topics = tuple(dict.fromkeys(rng.sample(TOPICS, count)))
    if rng.random() < 0.7:
        topics = tuple(t for t in topics if t != "Bad Topic")
    recipients = tuple(sorted(_subset(rng, ("USA", "JPN", "KOR", "GBR"), 2)))
    subject = Subject(label, topics, recipients, rng.choice(("item-1", "item-2", None)))
    owner = label.owner or "USA"
    roll = rng.random()
    if roll < 0.35:
        holder = owner
    elif roll < 0.9:
        holder = rng.choice(TRILATERAL)
    else:
        holder = rng.choice(NATIONS)
    if rng.random() < 0.8:
        destination = rng.choice([n for n in TRILATERAL if n != holder] or list(TRILATERAL))
    else:
        destination = rng.choice(NATIONS)
    at = random_time(rng, edges)
    consents: tuple[Consent, ...] = ()
    if rng.random() < 0.5:
        consents = tuple(
            random_consent(rng, subject, holder, destination, at) for _ in range(rng.randint(1, 3))
        )
        if rng.random() < 0.4:  # the consent the originator would actually give
            owner_consent = (
                Consent(owner, frozenset({destination}), item_id=subject.id)
                if subject.id is not None and rng.random() < 0.5
                else Consent(
                    owner,
                    frozenset({destination}),
                    topic=rng.choice(("*", "*", "dprk", "cyber")),
                    ceiling=rng.choice(list(Classification)),
                )
            )
            consents = (*consents, owner_consent)
    return Case(subject, holder, destination, at, consents)
