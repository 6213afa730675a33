"""Agreements as code (SPEC §3): the model, its TOML form, validation and time.

An agreement file is TOML text; :func:`parse_agreement` turns it into a frozen
:class:`Agreement` or raises :class:`AgreementError` naming the file, the key and the reason.
Unknown keys are refused, and so is anything else this module cannot vouch for (fail closed).

Time. Dates in a file are whole UTC days. A period ``{ from = D1, to = D2 }`` covers every
instant from ``D1`` 00:00 UTC up to, but not including, the day after ``D2`` (``to`` is the
last day covered, inclusive); a period without ``to`` is open-ended. The agreement is in force
at an instant when an ``in-force`` period covers it and no ``suspended`` period does. Decisions
can therefore only change at the UTC midnights returned by :meth:`Agreement.boundaries`.

No IO, no clock: callers pass the text and the time. Deterministic.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any, Final

from trilat.core.errors import AgreementError
from trilat.core.labels import Classification, is_nation

__all__ = [
    "Agreement",
    "Marking",
    "Notice",
    "Period",
    "PeriodStatus",
    "ThirdParty",
    "Topology",
    "classification_name",
    "day_start",
    "parse_agreement",
    "parse_classification",
    "topic_covered",
    "topic_is_valid",
]


class Topology(StrEnum):
    """How information flows between the parties."""

    HUB = "hub"
    BILATERAL = "bilateral"
    MULTILATERAL = "multilateral"


class ThirdParty(StrEnum):
    """What a receiving party may do with another party's information (SPEC §4 rule 5b)."""

    FORBIDDEN = "forbidden"
    ORIGINATOR_CONSENT = "originator-consent"
    PARTIES = "parties"


class PeriodStatus(StrEnum):
    """The state an agreement is in during a period."""

    IN_FORCE = "in-force"
    SUSPENDED = "suspended"


_CLASSIFICATION_NAMES: Final[Mapping[str, Classification]] = {
    "UNCLASSIFIED": Classification.UNCLASSIFIED,
    "CONFIDENTIAL": Classification.CONFIDENTIAL,
    "SECRET": Classification.SECRET,
    "TOP SECRET": Classification.TOP_SECRET,
}

_TOP_KEYS: Final[frozenset[str]] = frozenset(
    {
        "id",
        "name",
        "parties",
        "topology",
        "hub",
        "binding",
        "topics",
        "max_classification",
        "third_party",
        "periods",
        "source",
        "markings",
        "notices",
        "renewal",
    }
)
_REQUIRED_KEYS: Final[tuple[str, ...]] = (
    "id",
    "name",
    "parties",
    "topology",
    "topics",
    "max_classification",
    "third_party",
    "periods",
    "source",
)
_PERIOD_KEYS: Final[frozenset[str]] = frozenset({"from", "to", "status", "note"})
_NOTICE_KEYS: Final[frozenset[str]] = frozenset({"from", "to", "text"})
_ID_CHARACTERS: Final[frozenset[str]] = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_TOPIC_CHARACTERS: Final[frozenset[str]] = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def classification_name(level: Classification) -> str:
    """The banner word of a level: ``TOP SECRET`` for ``Classification.TOP_SECRET``."""
    return level.name.replace("_", " ")


def parse_classification(text: str) -> Classification:
    """``"TOP SECRET"`` (or ``TOP_SECRET``, any case) → the level; ``ValueError`` otherwise."""
    key = text.strip().upper().replace("_", " ")
    try:
        return _CLASSIFICATION_NAMES[key]
    except KeyError:
        raise ValueError(f"unknown classification {text!r}") from None


def topic_is_valid(topic: str) -> bool:
    """A dotted lower-case topic such as ``dprk.missile.warning`` (no empty segment)."""
    if not topic or len(topic) > 200:
        return False
    return all(part and set(part) <= _TOPIC_CHARACTERS for part in topic.split("."))


def topic_covered(topic: str, pattern: str) -> bool:
    """Whether an agreement topic *pattern* covers an item *topic* (dotted prefix match).

    ``*`` covers everything; ``dprk.missile`` covers ``dprk.missile`` and
    ``dprk.missile.warning`` but not ``dprk.missiles`` nor ``dprk``.
    """
    return pattern == "*" or topic == pattern or topic.startswith(pattern + ".")


def day_start(day: date) -> datetime:
    """00:00 UTC of *day*: the instant a date in an agreement file begins."""
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """A span of days (``end`` inclusive, ``None`` = open) in which the agreement has *status*."""

    start: date
    end: date | None = None
    status: PeriodStatus = PeriodStatus.IN_FORCE
    note: str = ""

    def covers(self, at: datetime) -> bool:
        """Whether the aware instant *at* falls inside this period."""
        if at < day_start(self.start):
            return False
        return self.end is None or at < day_start(self.end + timedelta(days=1))

    def describe(self) -> str:
        """``2019-12-01 to 2019-12-31`` or ``from 2014-12-29``."""
        if self.end is None:
            return f"from {self.start.isoformat()}"
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


@dataclass(frozen=True, slots=True)
class Notice:
    """A dated fact shown as a warning while it applies (e.g. a notice of termination)."""

    start: date
    end: date | None
    text: str

    def applies(self, at: datetime) -> bool:
        """Whether the aware instant *at* falls inside the notice's days."""
        if at < day_start(self.start):
            return False
        return self.end is None or at < day_start(self.end + timedelta(days=1))


@dataclass(frozen=True, slots=True)
class Marking:
    """How a party renders one classification level in its own national terms."""

    nation: str
    classification: Classification
    text: str


@dataclass(frozen=True, slots=True)
class Agreement:
    """One real sharing arrangement: parties, topology, topics, ceiling, third-party rule, dates.

    Build it with :func:`parse_agreement` (or directly; the constructor validates too), so an
    instance is always well formed: at least two known parties, a hub that is one of them, etc.
    """

    id: str
    name: str
    parties: frozenset[str]
    topology: Topology
    topics: tuple[str, ...]
    max_classification: Classification
    third_party: ThirdParty
    periods: tuple[Period, ...]
    source: str
    hub: str | None = None
    binding: bool = True
    markings: tuple[Marking, ...] = ()
    notices: tuple[Notice, ...] = ()
    renewal: str = ""

    def __post_init__(self) -> None:
        _check_agreement(self)

    def in_force(self, at: datetime) -> bool:
        """Whether the agreement is in force at the aware instant *at* (not suspended)."""
        _require_aware(at)
        if any(p.status is PeriodStatus.SUSPENDED and p.covers(at) for p in self.periods):
            return False
        return any(p.status is PeriodStatus.IN_FORCE and p.covers(at) for p in self.periods)

    def state_at(self, at: datetime) -> tuple[bool, str]:
        """``(in force?, why)``: a sentence naming the period or suspension that decides."""
        _require_aware(at)
        for period in self.periods:
            if period.status is PeriodStatus.SUSPENDED and period.covers(at):
                note = f": {period.note}" if period.note else ""
                return False, f"{self.id} is suspended {period.describe()}{note}"
        for period in self.periods:
            if period.status is PeriodStatus.IN_FORCE and period.covers(at):
                return True, f"{self.id} is in force ({period.describe()})"
        first = min(p.start for p in self.periods if p.status is PeriodStatus.IN_FORCE)
        if at < day_start(first):
            return False, f"{self.id} is not yet in force (from {first.isoformat()})"
        ended = max((p.end for p in self.periods if p.end is not None), default=None)
        until = f" (ended {ended.isoformat()})" if ended is not None else ""
        return False, f"{self.id} is not in force at that time{until}"

    def warnings(self, at: datetime) -> tuple[str, ...]:
        """Dated notices that apply at *at*, then the renewal condition, as sentences."""
        _require_aware(at)
        found = [f"{self.id}: {n.text}" for n in self.notices if n.applies(at)]
        if self.renewal and self.in_force(at):
            found.append(f"{self.id}: {self.renewal}")
        return tuple(found)

    def boundaries(self) -> frozenset[datetime]:
        """Every instant at which :meth:`in_force` or :meth:`warnings` can change."""
        days: set[date] = set()
        spans: list[tuple[date, date | None]] = [(p.start, p.end) for p in self.periods]
        spans += [(n.start, n.end) for n in self.notices]
        for start, end in spans:
            days.add(start)
            if end is not None:
                days.add(end + timedelta(days=1))
        return frozenset(day_start(d) for d in days)

    def covers_topic(self, topic: str) -> bool:
        """Whether one of the agreement's topic patterns covers *topic*."""
        return any(topic_covered(topic, pattern) for pattern in self.topics)

    def specificity(self, topics: Iterable[str]) -> int:
        """How narrowly the agreement matches *topics*: for each topic the depth of the deepest
        covering pattern (``*`` = 0), then the minimum over topics. Higher is more specific."""
        depths = [
            max(
                (0 if p == "*" else p.count(".") + 1 for p in self.topics if topic_covered(t, p)),
                default=-1,
            )
            for t in topics
        ]
        return min(depths, default=-1)

    def marking_table(self, nation: str) -> dict[Classification, str]:
        """Level → national term for party *nation* (for ``labels.render_national``)."""
        return {m.classification: m.text for m in self.markings if m.nation == nation}

    def marking(self, nation: str, level: Classification) -> str | None:
        """The national rendering of *level* for party *nation*, if the agreement gives one."""
        for entry in self.markings:
            if entry.nation == nation and entry.classification is level:
                return entry.text
        return None


def _require_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time without a UTC offset: {at!r}")


def _check_agreement(agreement: Agreement) -> None:
    """Validate a constructed agreement; raises AgreementError naming the key."""
    source = agreement.id or "<agreement>"

    def bad(key: str, reason: str) -> AgreementError:
        return AgreementError(source, key, reason)

    if not agreement.id or not set(agreement.id) <= _ID_CHARACTERS:
        raise bad("id", "must be upper-case letters, digits and dashes")
    if not agreement.name.strip():
        raise bad("name", "must not be empty")
    if len(agreement.parties) < 2:
        raise bad("parties", "an agreement needs at least two parties")
    for party in sorted(agreement.parties):
        if not is_nation(party):
            raise bad("parties", f"unknown nation {party!r}")
    if agreement.topology is Topology.HUB:
        if agreement.hub is None:
            raise bad("hub", "a hub agreement must name its hub")
        if agreement.hub not in agreement.parties:
            raise bad("hub", f"hub {agreement.hub!r} is not a party")
    elif agreement.hub is not None:
        raise bad("hub", f"only a hub agreement has a hub (topology is {agreement.topology})")
    if agreement.topology is Topology.BILATERAL and len(agreement.parties) != 2:
        raise bad("topology", "a bilateral agreement has exactly two parties")
    if not agreement.topics:
        raise bad("topics", "must list at least one topic (use '*' for all)")
    for topic in agreement.topics:
        if topic != "*" and not topic_is_valid(topic):
            raise bad("topics", f"malformed topic {topic!r}")
    if agreement.max_classification is Classification.UNCLASSIFIED:
        raise bad("max_classification", "an agreement's ceiling must be classified")
    if not agreement.source.strip():
        raise bad("source", "cite the public source of the agreement's facts")
    _check_periods(agreement.periods, bad)
    for notice in agreement.notices:
        if notice.end is not None and notice.end < notice.start:
            raise bad("notices", f"notice ends {notice.end} before it starts {notice.start}")
        if not notice.text.strip():
            raise bad("notices", "a notice needs a text")
    for entry in agreement.markings:
        if entry.nation not in agreement.parties:
            raise bad("markings", f"{entry.nation!r} is not a party")
        if not entry.text.strip():
            raise bad("markings", f"empty marking for {entry.nation} {entry.classification.name}")


def _check_periods(periods: tuple[Period, ...], bad: Any) -> None:
    if not any(p.status is PeriodStatus.IN_FORCE for p in periods):
        raise bad("periods", "needs at least one in-force period")
    previous: date | None = None
    for index, period in enumerate(periods):
        if period.end is not None and period.end < period.start:
            raise bad(f"periods[{index}]", f"'to' {period.end} is before 'from' {period.start}")
        if previous is not None and period.start < previous:
            raise bad(f"periods[{index}]", "periods must be listed in order of 'from'")
        previous = period.start
    for status in PeriodStatus:
        same = [p for p in periods if p.status is status]
        for before, after in pairwise(same):
            if before.end is None or before.end >= after.start:
                raise bad("periods", f"{status} periods overlap ({before.describe()})")


# --- parsing -------------------------------------------------------------------------------


def parse_agreement(text: str, *, source: str = "<agreement>") -> Agreement:
    """Parse one agreement from TOML *text*; *source* names it in errors (usually a file name).

    Raises AgreementError(source, key, reason) for malformed TOML, unknown or missing keys,
    wrong types, unknown nations or values, and badly ordered periods.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgreementError(source, "-", f"not valid TOML: {exc}") from exc
    reader = _Reader(source, document)
    return reader.agreement()


class _Reader:
    """Typed access to a TOML document, raising AgreementError(source, key, reason)."""

    def __init__(self, source: str, document: dict[str, Any]) -> None:
        self.source = source
        self.document = document

    def error(self, key: str, reason: str) -> AgreementError:
        return AgreementError(self.source, key, reason)

    def agreement(self) -> Agreement:
        document = self.document
        unknown = sorted(set(document) - _TOP_KEYS)
        if unknown:
            raise self.error(unknown[0], "unknown key")
        for key in _REQUIRED_KEYS:
            if key not in document:
                raise self.error(key, "missing")
        parties = self.string_list("parties")
        if len(set(parties)) != len(parties):
            raise self.error("parties", "lists a nation twice")
        try:
            topology = Topology(self.string("topology"))
        except ValueError:
            raise self.error("topology", "must be hub, bilateral or multilateral") from None
        try:
            third_party = ThirdParty(self.string("third_party"))
        except ValueError:
            raise self.error(
                "third_party", "must be forbidden, originator-consent or parties"
            ) from None
        try:
            ceiling = parse_classification(self.string("max_classification"))
        except ValueError as exc:
            raise self.error("max_classification", str(exc)) from None
        binding = document.get("binding", True)
        if not isinstance(binding, bool):
            raise self.error("binding", "must be true or false")
        hub = document.get("hub")
        if hub is not None and not isinstance(hub, str):
            raise self.error("hub", "must be a nation code")
        renewal = document.get("renewal", "")
        if not isinstance(renewal, str):
            raise self.error("renewal", "must be a string")
        try:
            return Agreement(
                id=self.string("id"),
                name=self.string("name"),
                parties=frozenset(parties),
                topology=topology,
                topics=tuple(self.string_list("topics")),
                max_classification=ceiling,
                third_party=third_party,
                periods=self.periods(),
                source=self.string("source"),
                hub=hub,
                binding=binding,
                markings=self.markings(),
                notices=self.notices(),
                renewal=renewal,
            )
        except AgreementError as exc:  # re-attribute to the file being read
            raise self.error(exc.key, exc.reason) from None

    def string(self, key: str) -> str:
        value = self.document[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string")
        return value

    def string_list(self, key: str) -> list[str]:
        value = self.document[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a list of strings")
        return list(value)

    def day(self, key: str, value: object) -> date:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise self.error(key, f"must be a date like 2014-12-29, not {value!r}")
        return value

    def periods(self) -> tuple[Period, ...]:
        raw = self.document["periods"]
        if not isinstance(raw, list) or not raw:
            raise self.error("periods", "must be a non-empty list of tables")
        periods: list[Period] = []
        for index, entry in enumerate(raw):
            key = f"periods[{index}]"
            if not isinstance(entry, dict):
                raise self.error(key, "must be a table like { from = 2014-12-29 }")
            unknown = sorted(set(entry) - _PERIOD_KEYS)
            if unknown:
                raise self.error(f"{key}.{unknown[0]}", "unknown key")
            if "from" not in entry:
                raise self.error(f"{key}.from", "missing")
            start = self.day(f"{key}.from", entry["from"])
            end = self.day(f"{key}.to", entry["to"]) if "to" in entry else None
            try:
                status = PeriodStatus(entry.get("status", "in-force"))
            except ValueError:
                raise self.error(f"{key}.status", "must be in-force or suspended") from None
            note = entry.get("note", "")
            if not isinstance(note, str):
                raise self.error(f"{key}.note", "must be a string")
            periods.append(Period(start, end, status, note))
        return tuple(periods)

    def notices(self) -> tuple[Notice, ...]:
        raw = self.document.get("notices", [])
        if not isinstance(raw, list):
            raise self.error("notices", "must be a list of tables")
        notices: list[Notice] = []
        for index, entry in enumerate(raw):
            key = f"notices[{index}]"
            if not isinstance(entry, dict):
                raise self.error(key, "must be a table like { from = 2019-08-23, text = '…' }")
            unknown = sorted(set(entry) - _NOTICE_KEYS)
            if unknown:
                raise self.error(f"{key}.{unknown[0]}", "unknown key")
            for required in ("from", "text"):
                if required not in entry:
                    raise self.error(f"{key}.{required}", "missing")
            text = entry["text"]
            if not isinstance(text, str):
                raise self.error(f"{key}.text", "must be a string")
            start = self.day(f"{key}.from", entry["from"])
            end = self.day(f"{key}.to", entry["to"]) if "to" in entry else None
            notices.append(Notice(start, end, text))
        return tuple(notices)

    def markings(self) -> tuple[Marking, ...]:
        raw = self.document.get("markings", {})
        if not isinstance(raw, dict):
            raise self.error("markings", "must be a table of nation tables")
        found: list[Marking] = []
        for nation in sorted(raw):
            table = raw[nation]
            if not isinstance(table, dict):
                raise self.error(f"markings.{nation}", "must map classification to text")
            for level_name in sorted(table):
                key = f"markings.{nation}.{level_name}"
                try:
                    level = parse_classification(level_name)
                except ValueError:
                    raise self.error(key, "unknown classification") from None
                text = table[level_name]
                if not isinstance(text, str):
                    raise self.error(key, "must be a string")
                found.append(Marking(nation, level, text))
        return tuple(found)
