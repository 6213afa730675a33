"""The releasability policy engine (SPEC §4): the only place release is decided.

:meth:`Policy.decide` answers whether a nation holding a copy of an item (the *holder*) may
pass it to another nation (the *destination*) at an instant, given the consents on record,
and returns a :class:`Decision` whose first reason is the deciding one. Every exit is a
Decision; anything unknown denies (rule 7). :meth:`Policy.may_view` is the viewer check
that the node applies to lists, reads and event streams.

Caching. A decision depends only on the label's value, the item's topics and recipients, the
holder and the destination, the consents active at the instant (and then the item id), and on
which agreements are in force and which notices apply. The last two can only change at the
UTC midnights in :attr:`Policy.boundaries`, so the instant enters the cache key as its *period
index* (``bisect`` over the sorted boundaries). Reasons never quote the instant itself, so a
cached Decision is exactly what an uncached evaluation returns for every instant of the same
period. The label enters the key as a small token standing for its value, found by object
identity first (hashing a Label runs Python code); equal labels share a token. The cache and
the token tables are bounded (oldest decision evicted first; tokens are never reused).

No IO, no clock. Deterministic.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Final, Literal, Protocol

from trilat.core.agreements import (
    Agreement,
    ThirdParty,
    Topology,
    classification_name,
    topic_covered,
    topic_is_valid,
)
from trilat.core.errors import PolicyError
from trilat.core.labels import Classification, Label, Tlp, format_banner, is_nation

__all__ = [
    "ALLOW",
    "DENY",
    "Consent",
    "Decision",
    "Policy",
    "Releasable",
    "Subject",
]

ALLOW: Final = "allow"
DENY: Final = "deny"

REQUIRES_CONSENT: Final = "originator-consent"
REQUIRES_DISCLOSURE: Final = "disclosure-officer"
REQUIRES_AUDIT_VIEW: Final = "audit-view"

_NEVER_REPLICATED: Final[frozenset[Tlp]] = frozenset({Tlp.RED, Tlp.AMBER_STRICT})
_RECIPIENTS_ONLY: Final[frozenset[Tlp]] = frozenset({Tlp.RED, Tlp.AMBER_STRICT, Tlp.AMBER})
_EPOCH_ZERO: Final = datetime(1, 1, 1, tzinfo=UTC)
DEFAULT_CACHE_SIZE: Final = 65_536
_NO_CONSENTS: Final[frozenset[Consent]] = frozenset()


class Releasable(Protocol):
    """Anything the policy can judge: an item, an envelope, a probe built by the CLI."""

    @property
    def label(self) -> Label: ...  # its owner is the originator nation

    @property
    def topics(self) -> tuple[str, ...]: ...

    @property
    def recipients(self) -> tuple[str, ...]: ...  # the nations a TLP:AMBER item was sent to

    @property
    def id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Subject:
    """A concrete :class:`Releasable` for tests, the CLI and callers without an item."""

    label: Label
    topics: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """A recorded permission that the policy can rely on.

    ``kind="consent"``: the *originator* nation (the item's owner) consents to onward release
    to *destinations*. ``kind="disclosure"``: the disclosure officer of *originator* (then the
    holder's nation) decided to release a RELIDO item to *destinations*.

    Per item when ``item_id`` is set; otherwise a standing consent for every item whose topics
    all fall under ``topic`` (dotted prefix, ``*`` for all) and whose classification is at most
    ``ceiling``. ORCON accepts only per-item consents. Valid from ``valid_from`` (inclusive)
    until ``valid_until`` (exclusive) when those are given. A signed consent item maps onto
    these fields one to one.
    """

    originator: str
    destinations: frozenset[str]
    item_id: str | None = None
    topic: str | None = None
    ceiling: Classification | None = None
    kind: Literal["consent", "disclosure"] = "consent"
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.destinations, frozenset):
            object.__setattr__(self, "destinations", frozenset(self.destinations))
        if self.kind not in ("consent", "disclosure"):
            raise PolicyError(f"consent kind must be consent or disclosure, not {self.kind!r}")
        if not self.destinations:
            raise PolicyError("a consent must name at least one destination")
        if self.item_id is None:
            if self.topic is None or self.ceiling is None:
                raise PolicyError("a standing consent needs a topic prefix and a ceiling")
            if self.topic != "*" and not topic_is_valid(self.topic):
                raise PolicyError(f"malformed consent topic {self.topic!r}")
        for name in ("valid_from", "valid_until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise PolicyError(f"consent {name} has no UTC offset")
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until <= self.valid_from
        ):
            raise PolicyError("consent valid_until is not after valid_from")

    @property
    def standing(self) -> bool:
        """True for a topic + ceiling consent, False for a per-item one."""
        return self.item_id is None

    def active(self, at: datetime) -> bool:
        """Whether the consent's validity window contains *at*."""
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until

    def covers(
        self,
        *,
        kind: str,
        issuer: str,
        destination: str,
        item_id: str | None,
        topics: tuple[str, ...],
        level: Classification,
        per_item_only: bool = False,
    ) -> bool:
        """Whether this consent grants *kind* from *issuer* for this item and destination."""
        if self.kind != kind or self.originator != issuer:
            return False
        if destination not in self.destinations:
            return False
        if self.item_id is not None:
            return item_id is not None and self.item_id == item_id
        if per_item_only or not topics or self.topic is None or self.ceiling is None:
            return False
        pattern = self.topic
        return level <= self.ceiling and all(topic_covered(t, pattern) for t in topics)


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer: allow or deny, the agreement and route, and why.

    ``requires`` lists what is missing on a deny (``originator-consent``,
    ``disclosure-officer``) or what the caller must do on an allow (``audit-view``).
    ``reasons`` are sentences for a duty officer, the deciding one first; ``rule`` is a short
    id of the deciding rule for logs; ``warnings`` carry dated facts about the agreement
    (notices of termination, renewal conditions) that do not change the outcome.
    """

    decision: str
    agreement: str | None = None
    route: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    rule: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        """True exactly when ``decision == "allow"``."""
        return self.decision == ALLOW

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form with the stable keys of SPEC §4."""
        return {
            "decision": self.decision,
            "agreement": self.agreement,
            "route": list(self.route),
            "requires": list(self.requires),
            "reasons": list(self.reasons),
            "rule": self.rule,
            "warnings": list(self.warnings),
        }

    @classmethod
    def allow(
        cls,
        *reasons: str,
        rule: str,
        agreement: str | None = None,
        route: Sequence[str] = (),
        requires: Sequence[str] = (),
        warnings: Sequence[str] = (),
    ) -> Decision:
        """An allow; the first reason is the deciding one."""
        return cls(ALLOW, agreement, tuple(route), tuple(requires), reasons, rule, tuple(warnings))

    @classmethod
    def deny(
        cls,
        *reasons: str,
        rule: str,
        agreement: str | None = None,
        route: Sequence[str] = (),
        requires: Sequence[str] = (),
        warnings: Sequence[str] = (),
    ) -> Decision:
        """A deny; the first reason is the deciding one."""
        return cls(DENY, agreement, tuple(route), tuple(requires), reasons, rule, tuple(warnings))


def _banner(label: Label) -> str:
    try:
        return format_banner(label)
    except Exception:  # a hand-built illegal label still gets a readable reason
        return f"{classification_name(label.classification)} (unrenderable marking)"


def _conflict(label: Label) -> str | None:
    """Why the label's release markings contradict each other (SPEC §2 refuses them), if so."""
    noforn = "NOFORN" in label.dissem
    if label.rel_to and label.eyes_only:
        return "REL TO and EYES ONLY together"
    if noforn and (label.rel_to or label.eyes_only):
        return "NOFORN with a release list"
    if noforn and (label.display_only or "RELIDO" in label.dissem):
        return "NOFORN with DISPLAY ONLY or RELIDO"
    return None


def tlp_text(label: Label) -> str:
    """The TLP designation of *label*, or ``no TLP``."""
    return str(label.tlp) if label.tlp is not None else "no TLP"


def _topics_text(topics: tuple[str, ...]) -> str:
    return ", ".join(topics) if topics else "no topic"


class Policy:
    """The loaded agreements and the rules of SPEC §4 over them.

    *problems* are reasons the agreements could not all be loaded (for example an unreadable
    directory); they are quoted in every classified denial so that the failure is visible.
    """

    __slots__ = (
        "_agreements",
        "_boundaries",
        "_cache",
        "_cache_size",
        "_label_ids",
        "_label_values",
        "_next_token",
        "_problems",
        "_tetra",
    )

    def __init__(
        self,
        agreements: Iterable[Agreement],
        tetragraphs: Mapping[str, frozenset[str]] | None = None,
        *,
        problems: Sequence[str] = (),
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        loaded = sorted(agreements, key=lambda a: a.id)
        for before, after in pairwise(loaded):
            if before.id == after.id:
                raise PolicyError(f"agreement {before.id} is loaded twice")
        if cache_size < 1:
            raise PolicyError("cache_size must be at least 1")
        self._agreements: tuple[Agreement, ...] = tuple(loaded)
        self._tetra = tetragraphs
        self._problems: tuple[str, ...] = tuple(problems)
        instants = {_EPOCH_ZERO}
        for agreement in self._agreements:
            instants |= agreement.boundaries()
        self._boundaries: tuple[datetime, ...] = tuple(sorted(instants))
        self._cache: dict[tuple[object, ...], Decision] = {}
        self._cache_size = cache_size
        # Label value -> token, and id(label) -> (label, token): hashing a Label runs Python
        # code, so a label object seen before is recognised by identity (the entry keeps the
        # object alive, so its id cannot be reused while the entry exists).
        self._label_values: dict[Label, int] = {}
        self._label_ids: dict[int, tuple[Label, int]] = {}
        self._next_token = 0

    # -- public surface ---------------------------------------------------------------------

    @property
    def agreements(self) -> tuple[Agreement, ...]:
        """The loaded agreements, ordered by id."""
        return self._agreements

    @property
    def boundaries(self) -> tuple[datetime, ...]:
        """The sorted instants at which any decision can change (plus a first sentinel)."""
        return self._boundaries

    @property
    def problems(self) -> tuple[str, ...]:
        """Why some agreements could not be loaded, if anything went wrong."""
        return self._problems

    def agreement(self, agreement_id: str) -> Agreement | None:
        """The loaded agreement with this id, or None."""
        for agreement in self._agreements:
            if agreement.id == agreement_id:
                return agreement
        return None

    def period_index(self, at: datetime) -> int:
        """Which stretch between boundaries *at* falls in; equal index ⇒ equal decisions."""
        return bisect_right(self._boundaries, at)

    def cache_info(self) -> tuple[int, int]:
        """``(entries, capacity)`` of the decision cache."""
        return len(self._cache), self._cache_size

    def clear_cache(self) -> None:
        """Forget every memoised decision."""
        self._cache.clear()
        self._label_values.clear()
        self._label_ids.clear()

    def _label_token(self, label: Label) -> int:
        """A small int standing for *label*'s value (equal labels, equal tokens)."""
        values = self._label_values
        token = values.get(label)
        if token is None:
            if len(values) >= self._cache_size:  # bounded; tokens are never reused
                values.clear()
                self._label_ids.clear()
            token = self._next_token
            self._next_token += 1
            values[label] = token
        ids = self._label_ids
        if len(ids) >= self._cache_size:
            ids.clear()
        ids[id(label)] = (label, token)
        return token

    def decide(
        self,
        subject: Releasable,
        holder: str,
        destination: str,
        at: datetime,
        consents: Iterable[Consent] = (),
    ) -> Decision:
        """May *holder* pass *subject* to *destination* at *at*, given *consents*? (SPEC §4).

        Memoised; see the module docstring for why the cache cannot change an answer.
        """
        try:
            epoch = bisect_right(self._boundaries, at)
        except TypeError:  # naive datetime, or not a time at all
            return self._bad_time(at)
        label = subject.label
        try:
            slot = self._label_ids.get(id(label))
            token = slot[1] if slot is not None and slot[0] is label else self._label_token(label)
        except TypeError:  # an unhashable label: evaluate without the cache
            return self.decide_uncached(subject, holder, destination, at, consents)
        if consents:
            active = frozenset(c for c in consents if c.active(at))
            key: tuple[object, ...] = (
                token,
                subject.topics,
                subject.recipients,
                holder,
                destination,
                epoch,
                active,
                subject.id if active else None,
            )
        else:
            active = _NO_CONSENTS
            key = (token, subject.topics, subject.recipients, holder, destination, epoch)
        cache = self._cache
        try:
            found = cache.get(key)
        except TypeError:  # an unhashable field: evaluate without the cache
            return self._evaluate(subject, holder, destination, at, active)
        if found is not None:
            return found
        decision = self._evaluate(subject, holder, destination, at, active)
        if len(cache) >= self._cache_size:
            del cache[next(iter(cache))]
        cache[key] = decision
        return decision

    def decide_uncached(
        self,
        subject: Releasable,
        holder: str,
        destination: str,
        at: datetime,
        consents: Iterable[Consent] = (),
    ) -> Decision:
        """Exactly :meth:`decide`, evaluated from the rules every time (tests and benchmarks)."""
        try:
            bisect_right(self._boundaries, at)
        except TypeError:
            return self._bad_time(at)
        active = frozenset(c for c in consents if c.active(at))
        return self._evaluate(subject, holder, destination, at, active)

    def may_view(
        self,
        subject: Releasable,
        viewer_nation: str,
        viewer_clearance: Classification,
        node_nation: str,
        at: datetime,
        consents: Iterable[Consent] = (),
    ) -> Decision:
        """May a person of *viewer_nation*, cleared to *viewer_clearance*, see *subject* on
        the node of *node_nation*?

        Reading of the TLP rules: TLP:RED, TLP:AMBER+STRICT and TLP:AMBER are shown only to
        nationals of the owner or of a nation in the item's ``recipients`` (trilat knows
        nations, not individual addressees, so a nation stands for its people). A foreign
        viewer (a liaison officer) sees what the node could release to their nation, or what
        the label marks DISPLAY ONLY for it, or a TLP item whose recipients include their
        nation; the last two come back with ``audit-view`` in ``requires`` so that the node
        audits the view.
        """
        label = subject.label
        level = label.classification
        owner = label.owner
        for role, nation in (("viewer", viewer_nation), ("node", node_nation)):
            if not isinstance(nation, str) or not is_nation(nation):
                return Decision.deny(f"unknown {role} nation {nation!r}", rule="7.unknown")
        if owner is None or not is_nation(owner):
            return Decision.deny("the label names no known originator nation", rule="7.unknown")
        if not isinstance(viewer_clearance, Classification) or viewer_clearance < level:
            return Decision.deny(
                f"the viewer is not cleared to {classification_name(level)}",
                rule="view.clearance",
            )
        conflict = _conflict(label)
        if conflict is not None:
            return Decision.deny(f"the label is illegal ({conflict})", rule="7.unknown")
        if viewer_nation != node_nation:
            decision = self.decide(subject, node_nation, viewer_nation, at, consents)
            if decision.allowed:
                return decision
            if decision.rule == "2.tlp" and viewer_nation in subject.recipients:
                return Decision.allow(
                    f"{tlp_text(label)} is shown to the item's recipients: a {viewer_nation} "
                    f"national may view it on the {node_nation} node, which audits the view; "
                    f"it is never copied to {viewer_nation}",
                    *decision.reasons,
                    rule="view.tlp-recipient",
                    requires=(REQUIRES_AUDIT_VIEW,),
                )
            if viewer_nation not in label.display_only:
                return decision
            return Decision.allow(
                f"{_banner(label)} is display only to {viewer_nation}: its liaison officers may "
                f"view it on the {node_nation} node, which audits the view; it is never copied "
                f"to {viewer_nation}",
                *decision.reasons,
                rule="view.display-only",
                requires=(REQUIRES_AUDIT_VIEW,),
            )
        tlp = label.tlp
        if tlp in _RECIPIENTS_ONLY and viewer_nation != owner:
            if viewer_nation not in subject.recipients:
                return Decision.deny(
                    f"{tlp} is shown only to nationals of {owner} and of its recipients",
                    rule="view.tlp",
                )
        if node_nation != owner and (
            (tlp in _NEVER_REPLICATED and node_nation not in subject.recipients)
            or node_nation in label.display_only
            or not label.permits(node_nation, self._tetra)
        ):
            return Decision.deny(
                f"{_banner(label)} does not release to {node_nation}, so this node should not "
                "hold a copy to show",
                rule="view.holding",
            )
        return Decision.allow(
            f"a {viewer_nation} national cleared to {classification_name(viewer_clearance)} "
            f"may view what the {node_nation} node holds",
            rule="view.national",
        )

    # -- evaluation ---------------------------------------------------------------------------

    @staticmethod
    def _bad_time(at: object) -> Decision:
        return Decision.deny(
            f"the time of the decision has no UTC offset or is not a time: {at!r}",
            rule="7.unknown",
        )

    def _evaluate(
        self,
        subject: Releasable,
        holder: str,
        destination: str,
        at: datetime,
        consents: frozenset[Consent],
    ) -> Decision:
        label = subject.label
        owner = label.owner
        topics = tuple(subject.topics)
        recipients = tuple(subject.recipients)
        level = label.classification
        # Rule 7 and rule 1: everything must be known.
        if not isinstance(level, Classification):
            return Decision.deny("the label has no known classification", rule="7.unknown")
        if owner is None or not isinstance(owner, str) or not is_nation(owner):
            return Decision.deny(
                f"the label names no known originator nation ({owner!r})", rule="7.unknown"
            )
        for role, nation in (("holder", holder), ("destination", destination)):
            if not isinstance(nation, str) or not is_nation(nation):
                return Decision.deny(f"unknown {role} nation {nation!r}", rule="7.unknown")
        for topic in topics:
            if not isinstance(topic, str) or not topic_is_valid(topic):
                return Decision.deny(f"malformed topic {topic!r}", rule="7.unknown")
        for nation in recipients:
            if not isinstance(nation, str) or not is_nation(nation):
                return Decision.deny(f"unknown recipient nation {nation!r}", rule="7.unknown")
        if destination == holder:
            return Decision.deny(
                f"{destination} already holds the item: a release goes to another nation",
                rule="1.destination",
            )
        # Rule 3: back to the owner.
        if destination == owner:
            return Decision.allow(
                f"the item returns to its originator {owner}, which is always allowed",
                rule="3.owner",
                route=(holder, owner),
            )
        # Rule 2: the label must permit the destination.
        conflict = _conflict(label)
        if conflict is not None:
            return Decision.deny(
                f"the label is illegal ({conflict}), so it releases to nobody", rule="7.unknown"
            )
        denial = self._label_denial(label, recipients, destination)
        if denial is not None:
            return denial
        if level is Classification.UNCLASSIFIED:
            route = (holder, destination) if holder == owner else (owner, holder, destination)
            return self._with_controls(
                Decision.allow(
                    f"{_banner(label)} is unclassified and releasable to {destination}; "
                    "no agreement is needed (rule 6)",
                    rule="6.unclassified",
                    route=route,
                ),
                subject,
                holder,
                destination,
                consents,
            )
        # Rules 4 and 5: classified.
        if not topics:
            return Decision.deny(
                "a classified item needs at least one topic to be matched against agreements",
                rule="4.agreement",
            )
        if not self._agreements:
            why = self._problems or ("no agreement files are loaded",)
            return Decision.deny(
                f"no agreement is available, so no classified release is possible: {why[0]}",
                *why[1:],
                rule="4.agreement",
            )
        if holder == owner:
            decision = self._direct(label, topics, owner, destination, at)
        else:
            decision = self._onward(subject, topics, owner, holder, destination, at, consents)
        return self._with_controls(decision, subject, holder, destination, consents)

    def _label_denial(
        self, label: Label, recipients: tuple[str, ...], destination: str
    ) -> Decision | None:
        tlp = label.tlp
        if tlp in _NEVER_REPLICATED:
            return Decision.deny(
                f"{tlp} items are never replicated beyond their originator", rule="2.tlp"
            )
        if tlp is Tlp.AMBER and destination not in recipients:
            listed = ", ".join(recipients) if recipients else "none"
            return Decision.deny(
                f"TLP:AMBER goes only to the item's recipients ({listed}), not {destination}",
                rule="2.tlp",
            )
        if destination in label.display_only:
            return Decision.deny(
                f"{_banner(label)} is display only to {destination}: never copied there; its "
                "liaison officers may view it on the holder's node",
                rule="2.display-only",
            )
        if not label.permits(destination, self._tetra):
            return Decision.deny(
                f"{_banner(label)} does not release to {destination}", rule="2.label"
            )
        return None

    def _covers(
        self, agreement: Agreement, a: str, b: str, topics: tuple[str, ...], level: int
    ) -> bool:
        return (
            a in agreement.parties
            and b in agreement.parties
            and level <= agreement.max_classification
            and all(agreement.covers_topic(t) for t in topics)
        )

    def _best(self, candidates: list[Agreement], topics: tuple[str, ...]) -> Agreement:
        return min(candidates, key=lambda a: (-a.specificity(topics), a.id))

    def _direct(
        self,
        label: Label,
        topics: tuple[str, ...],
        owner: str,
        destination: str,
        at: datetime,
    ) -> Decision:
        level = label.classification
        covering = [
            a
            for a in self._agreements
            if a.in_force(at) and self._covers(a, owner, destination, topics, level)
        ]
        direct = [
            a
            for a in covering
            if a.topology is not Topology.HUB or destination == a.hub or owner == a.hub
        ]
        if direct:
            chosen = self._best(direct, topics)
            return Decision.allow(
                f"{chosen.id} covers {owner}→{destination} for {_topics_text(topics)} up to "
                f"{classification_name(chosen.max_classification)}; {owner} releases its own "
                "item directly",
                rule="5.direct",
                agreement=chosen.id,
                route=(owner, destination),
                warnings=chosen.warnings(at),
            )
        if covering:
            hub_agreement = self._best(covering, topics)
            hub = hub_agreement.hub or "?"
            if hub_agreement.third_party is ThirdParty.PARTIES:
                relay = "without further consent"
            elif hub_agreement.third_party is ThirdParty.ORIGINATOR_CONSENT:
                relay = f"with {owner}'s consent (the originator's)"
            else:
                relay = "only if another agreement lets it"
            return Decision.deny(
                f"{hub_agreement.id} never allows direct exchange between its non-hub parties "
                f"{owner} and {destination}",
                f"the route via the hub exists: {owner} may send it to {hub}, which may relay "
                f"it to {destination} {relay}",
                *self._misses(owner, destination, topics, level, at, exclude=covering),
                rule="5.hub",
                warnings=hub_agreement.warnings(at),
            )
        return Decision.deny(
            f"no agreement in force at that time covers {owner}→{destination} for "
            f"{_topics_text(topics)} at {classification_name(level)}",
            *self._misses(owner, destination, topics, level, at),
            rule="4.agreement",
        )

    def _onward(
        self,
        subject: Releasable,
        topics: tuple[str, ...],
        owner: str,
        holder: str,
        destination: str,
        at: datetime,
        consents: frozenset[Consent],
    ) -> Decision:
        level = subject.label.classification
        route = (owner, holder, destination)
        in_force = [a for a in self._agreements if a.in_force(at)]
        # (a) owner–destination; a hub agreement only through its hub.
        reaching = [a for a in in_force if self._covers(a, owner, destination, topics, level)]
        first = [a for a in reaching if a.topology is not Topology.HUB or holder == a.hub]
        if not first:
            if reaching:
                hub_agreement = self._best(reaching, topics)
                return Decision.deny(
                    f"under {hub_agreement.id} only its hub {hub_agreement.hub} may relay "
                    f"{owner}'s information to {destination}; {holder} may not",
                    rule="5.hub",
                    route=route,
                )
            return Decision.deny(
                f"no agreement in force at that time covers {owner}→{destination} for "
                f"{_topics_text(topics)} at {classification_name(level)} (rule 5a)",
                *self._misses(owner, destination, topics, level, at),
                rule="4.agreement",
                route=route,
            )
        named = self._best(first, topics)
        warnings = named.warnings(at)
        # (b) owner–holder, and what it lets the holder do with the item.
        holding = [a for a in in_force if self._covers(a, owner, holder, topics, level)]
        free = [
            a for a in holding if a.third_party is ThirdParty.PARTIES and destination in a.parties
        ]
        with_consent = [a for a in holding if a.third_party is ThirdParty.ORIGINATOR_CONSENT]
        if free:
            basis = self._best(free, topics)
            return Decision.allow(
                f"{named.id} covers {owner}→{destination}, and {basis.id} lets {holder} pass "
                f"{owner}'s information on to its parties without consent",
                rule="5.onward",
                agreement=named.id,
                route=route,
                warnings=warnings,
            )
        if not with_consent:
            if not holding:
                reason = (
                    f"no agreement in force at that time covers {owner}→{holder} for "
                    f"{_topics_text(topics)} at {classification_name(level)}, so {holder} "
                    "may not pass it on (rule 5b)"
                )
            else:
                rules = ", ".join(f"{a.id} ({a.third_party})" for a in holding)
                reason = (
                    f"no agreement between {owner} and {holder} permits onward release to "
                    f"{destination}: {rules}"
                )
            return Decision.deny(
                reason, rule="5.third-party", agreement=named.id, route=route, warnings=warnings
            )
        basis = self._best(with_consent, topics)
        consented = any(
            c.covers(
                kind="consent",
                issuer=owner,
                destination=destination,
                item_id=subject.id,
                topics=topics,
                level=level,
            )
            for c in consents
        )
        if not consented:
            return Decision.deny(
                f"onward release by {holder} to {destination} needs {owner}'s consent as "
                f"originator under {basis.id}, and none is on record",
                f"{named.id} covers {owner}→{destination}; route {'→'.join(route)}",
                rule="5.consent",
                agreement=named.id,
                route=route,
                requires=(REQUIRES_CONSENT,),
                warnings=warnings,
            )
        return Decision.allow(
            f"{named.id} covers {owner}→{destination}, and {owner} consented to onward "
            f"release by {holder} to {destination} (required by {basis.id})",
            rule="5.onward",
            agreement=named.id,
            route=route,
            warnings=warnings,
        )

    def _with_controls(
        self,
        decision: Decision,
        subject: Releasable,
        holder: str,
        destination: str,
        consents: frozenset[Consent],
    ) -> Decision:
        """Apply ORCON and RELIDO on top of a decision (SPEC §4 rule 5, any classification)."""
        if not decision.allowed and decision.rule != "5.consent":
            return decision
        label = subject.label
        owner = label.owner or ""
        topics = tuple(subject.topics)
        level = label.classification
        requires: list[str] = []
        reasons: list[str] = []
        rule = ""
        if not decision.allowed:  # onward release waiting for the originator's consent
            requires.append(REQUIRES_CONSENT)
            reasons.append(decision.reasons[0])
            rule = decision.rule
        if "ORCON" in label.dissem and holder != owner:
            per_item = any(
                c.covers(
                    kind="consent",
                    issuer=owner,
                    destination=destination,
                    item_id=subject.id,
                    topics=topics,
                    level=level,
                    per_item_only=True,
                )
                for c in consents
            )
            if not per_item:
                reasons.append(
                    f"ORCON: onward release by {holder} needs {owner}'s consent for this very "
                    f"item to {destination}; a standing consent does not suffice"
                )
                rule = rule or "5.orcon"
                if REQUIRES_CONSENT not in requires:
                    requires.append(REQUIRES_CONSENT)
        if "RELIDO" in label.dissem:
            decided = any(
                c.covers(
                    kind="disclosure",
                    issuer=holder,
                    destination=destination,
                    item_id=subject.id,
                    topics=topics,
                    level=level,
                )
                for c in consents
            )
            if not decided:
                reasons.append(
                    f"RELIDO: release to {destination} needs a decision by {holder}'s "
                    "disclosure officer, and none is on record"
                )
                rule = rule or "5.relido"
                requires.append(REQUIRES_DISCLOSURE)
        if not requires:
            return decision
        reasons.extend(r for r in decision.reasons if r not in reasons)
        return Decision.deny(
            *reasons,
            rule=rule,
            agreement=decision.agreement,
            route=decision.route,
            requires=requires,
            warnings=decision.warnings,
        )

    def _misses(
        self,
        a: str,
        b: str,
        topics: tuple[str, ...],
        level: Classification,
        at: datetime,
        exclude: Sequence[Agreement] = (),
    ) -> list[str]:
        """Why each agreement between *a* and *b* does not serve (for the reasons)."""
        found: list[str] = []
        for agreement in self._agreements:
            if agreement in exclude:
                continue
            if a not in agreement.parties or b not in agreement.parties:
                continue
            in_force, why = agreement.state_at(at)
            if not in_force:
                found.append(why)
                continue
            outside = [t for t in topics if not agreement.covers_topic(t)]
            if outside:
                found.append(
                    f"{agreement.id} does not cover topic {', '.join(outside)} "
                    f"(its topics: {', '.join(agreement.topics)})"
                )
            if level > agreement.max_classification:
                found.append(
                    f"{agreement.id} stops at "
                    f"{classification_name(agreement.max_classification)}, below "
                    f"{classification_name(level)}"
                )
        if not found:
            found.append(f"no loaded agreement has both {a} and {b} as parties")
        found.extend(self._problems)
        return found
