"""Properties of the policy engine: more restriction never allows more, and caching is exact."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.policy_support import agreement_set
from trilat.core.labels import Classification, Label, Tlp
from trilat.core.policy import Consent, Policy, Subject

POLICY = Policy(agreement_set("shipped+fixtures"))
NATIONS = ("USA", "JPN", "KOR", "GBR", "CAN", "CHN")
TOPICS = ("dprk.missile", "dprk.missile.warning", "dprk.nuclear", "maritime.sts", "cyber", "hadr")

nations = st.sampled_from(NATIONS)
instants = st.datetimes(
    min_value=datetime(1986, 1, 1),
    max_value=datetime(2027, 1, 1),
    timezones=st.just(UTC),
)


@st.composite
def labels(draw: st.DrawFn) -> Label:
    return Label(
        classification=draw(st.sampled_from(list(Classification))),
        rel_to=draw(st.frozensets(st.sampled_from((*NATIONS, "FVEY")), max_size=4)),
        dissem=draw(st.frozensets(st.sampled_from(("ORCON", "RELIDO", "FOUO")), max_size=2)),
        display_only=draw(st.frozensets(nations, max_size=1)),
        tlp=draw(st.none() | st.sampled_from(list(Tlp))),
        owner=draw(nations),
    )


@st.composite
def subjects(draw: st.DrawFn) -> Subject:
    return Subject(
        label=draw(labels()),
        topics=tuple(draw(st.lists(st.sampled_from(TOPICS), min_size=1, max_size=2, unique=True))),
        recipients=tuple(sorted(draw(st.frozensets(nations, max_size=2)))),
        id=draw(st.sampled_from(("item-1", "item-2"))),
    )


@st.composite
def consent_sets(draw: st.DrawFn) -> list[Consent]:
    found = []
    for _ in range(draw(st.integers(0, 3))):
        destinations = draw(st.frozensets(nations, min_size=1, max_size=2))
        kind = draw(st.sampled_from(("consent", "disclosure")))
        if draw(st.booleans()):
            found.append(
                Consent(draw(nations), destinations, item_id=draw(st.just("item-1")), kind=kind)
            )
        else:
            found.append(
                Consent(
                    draw(nations),
                    destinations,
                    topic=draw(st.sampled_from(("*", "dprk", "maritime"))),
                    ceiling=draw(st.sampled_from(list(Classification))),
                    kind=kind,
                )
            )
    return found


def _allowed(subject: Subject, holder: str, to: str, at: datetime, consents: list[Consent]) -> bool:
    return POLICY.decide_uncached(subject, holder, to, at, consents).allowed


@settings(max_examples=200, deadline=None)
@given(subjects(), nations, nations, instants, consent_sets())
def test_adding_noforn_never_turns_a_deny_into_an_allow(
    subject: Subject, holder: str, to: str, at: datetime, consents: list[Consent]
) -> None:
    label = subject.label
    stricter = dataclasses.replace(label, dissem=label.dissem | {"NOFORN"})
    if _allowed(dataclasses.replace(subject, label=stricter), holder, to, at, consents):
        assert _allowed(subject, holder, to, at, consents)


@settings(max_examples=200, deadline=None)
@given(subjects(), nations, nations, instants, consent_sets(), st.sampled_from(("ORCON", "RELIDO")))
def test_adding_orcon_or_relido_never_turns_a_deny_into_an_allow(
    subject: Subject, holder: str, to: str, at: datetime, consents: list[Consent], control: str
) -> None:
    stricter = dataclasses.replace(subject.label, dissem=subject.label.dissem | {control})
    if _allowed(dataclasses.replace(subject, label=stricter), holder, to, at, consents):
        assert _allowed(subject, holder, to, at, consents)


@settings(max_examples=200, deadline=None)
@given(subjects(), nations, nations, instants, consent_sets(), nations)
def test_narrowing_rel_to_never_turns_a_deny_into_an_allow(
    subject: Subject, holder: str, to: str, at: datetime, consents: list[Consent], dropped: str
) -> None:
    narrower = dataclasses.replace(subject.label, rel_to=subject.label.rel_to - {dropped})
    if not narrower.rel_to and narrower.classification is Classification.UNCLASSIFIED:
        return  # an unclassified item with no list at all is unrestricted (SPEC §4 rule 2)
    if _allowed(dataclasses.replace(subject, label=narrower), holder, to, at, consents):
        assert _allowed(subject, holder, to, at, consents)


@settings(max_examples=200, deadline=None)
@given(subjects(), nations, nations, instants, consent_sets(), st.sampled_from(TOPICS))
def test_adding_a_topic_never_turns_a_deny_into_an_allow(
    subject: Subject, holder: str, to: str, at: datetime, consents: list[Consent], topic: str
) -> None:
    wider = dataclasses.replace(subject, topics=tuple(dict.fromkeys((*subject.topics, topic))))
    if _allowed(wider, holder, to, at, consents):
        assert _allowed(subject, holder, to, at, consents)


@settings(max_examples=200, deadline=None)
@given(subjects(), nations, nations, instants, consent_sets())
def test_raising_the_classification_never_turns_a_deny_into_an_allow(
    subject: Subject, holder: str, to: str, at: datetime, consents: list[Consent]
) -> None:
    level = subject.label.classification
    if level is Classification.TOP_SECRET:
        return
    higher = dataclasses.replace(subject.label, classification=Classification(level + 1))
    if _allowed(dataclasses.replace(subject, label=higher), holder, to, at, consents):
        assert _allowed(subject, holder, to, at, consents)


@settings(max_examples=200, deadline=None)
@given(subjects(), nations, nations, instants, consent_sets(), consent_sets())
def test_more_consents_never_turn_an_allow_into_a_deny(
    subject: Subject,
    holder: str,
    to: str,
    at: datetime,
    consents: list[Consent],
    more: list[Consent],
) -> None:
    if _allowed(subject, holder, to, at, consents):
        assert _allowed(subject, holder, to, at, consents + more)


@settings(max_examples=200, deadline=None)
@given(subjects(), nations, nations, instants, consent_sets(), st.integers(0, 86_399_999))
def test_cached_decision_equals_evaluation_anywhere_in_the_same_period(
    subject: Subject,
    holder: str,
    to: str,
    at: datetime,
    consents: list[Consent],
    shift_ms: int,
) -> None:
    other = at + timedelta(milliseconds=shift_ms)
    cached = POLICY.decide(subject, holder, to, at, consents)
    assert cached == POLICY.decide_uncached(subject, holder, to, at, consents)
    if POLICY.period_index(other) == POLICY.period_index(at) and all(
        c.active(at) == c.active(other) for c in consents
    ):
        assert POLICY.decide(subject, holder, to, other, consents) == cached
