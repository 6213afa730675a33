"""The policy engine: the brief's acceptance cases, the viewer check, the API and the cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.core.policy_support import agreement_set, day
from trilat.agreement_files import load_policy
from trilat.core.errors import PolicyError, ReleaseDenied
from trilat.core.labels import Classification, Label, parse_label
from trilat.core.policy import Consent, Decision, Policy, Releasable, Subject

JPN_REPORT = Subject(
    parse_label("SECRET//REL TO USA, JPN, KOR", owner="JPN"), ("dprk.missile",), id="item-1"
)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def _item(text: str, owner: str = "USA", *topics: str, **extra: object) -> Subject:
    return Subject(parse_label(text, owner=owner), topics or ("dprk.missile",), **extra)  # type: ignore[arg-type]


# --- the acceptance cases -------------------------------------------------------------------


def test_direct_japan_korea_release_in_2017_uses_gsomia(policy: Policy) -> None:
    decision = policy.decide(JPN_REPORT, "JPN", "KOR", day("2017-03-01"))
    assert decision.allowed
    assert decision.agreement == "GSOMIA-JPN-KOR-2016"
    assert decision.route == ("JPN", "KOR")


def test_direct_japan_korea_release_in_2015_is_denied_and_points_to_the_hub(
    policy: Policy,
) -> None:
    decision = policy.decide(JPN_REPORT, "JPN", "KOR", day("2015-06-01"))
    assert not decision.allowed
    assert decision.agreement is None
    text = " ".join(decision.reasons)
    assert "TISA-2014" in text
    assert "USA" in text
    assert "consent" in text


def test_hub_relay_in_2015_needs_the_originators_consent(policy: Policy) -> None:
    denied = policy.decide(JPN_REPORT, "USA", "KOR", day("2015-06-01"))
    assert not denied.allowed
    assert "originator-consent" in denied.requires
    consent = Consent("JPN", frozenset({"KOR"}), item_id="item-1")
    allowed = policy.decide(JPN_REPORT, "USA", "KOR", day("2015-06-01"), [consent])
    assert allowed.allowed
    assert allowed.agreement == "TISA-2014"
    assert allowed.route == ("JPN", "USA", "KOR")


# --- viewer check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("banner", "visible"),
    [
        ("SECRET//REL TO USA, JPN, KOR", True),
        ("SECRET//DISPLAY ONLY JPN", True),
        ("SECRET//NOFORN", False),
        ("TOP SECRET//REL TO USA, JPN", False),
    ],
)
def test_japanese_liaison_officer_on_a_us_node_sees_what_the_brief_says(
    policy: Policy, banner: str, visible: bool
) -> None:
    item = _item(banner, "USA", "dprk.missile")
    decision = policy.may_view(item, "JPN", Classification.SECRET, "USA", day("2024-05-01"))
    assert decision.allowed is visible, decision.reasons


def test_display_only_view_is_allowed_with_an_audit_requirement(policy: Policy) -> None:
    item = _item("SECRET//DISPLAY ONLY JPN", "USA")
    decision = policy.may_view(item, "JPN", Classification.SECRET, "USA", day("2024-05-01"))
    assert decision.allowed
    assert decision.requires == ("audit-view",)
    assert decision.rule == "view.display-only"
    assert "display only" in decision.reasons[0]
    # ...yet it is never copied to Japan.
    assert not policy.decide(item, "USA", "JPN", day("2024-05-01")).allowed


def test_display_only_does_not_extend_to_other_nations(policy: Policy) -> None:
    item = _item("SECRET//DISPLAY ONLY JPN", "USA")
    assert not policy.may_view(item, "KOR", Classification.SECRET, "USA", day("2024-05-01")).allowed


def test_national_viewer_sees_noforn_on_their_own_node(policy: Policy) -> None:
    item = _item("SECRET//NOFORN", "USA")
    decision = policy.may_view(item, "USA", Classification.SECRET, "USA", day("2024-05-01"))
    assert decision.allowed
    assert decision.rule == "view.national"


def test_clearance_below_classification_is_denied_even_for_nationals(policy: Policy) -> None:
    item = _item("TOP SECRET//NOFORN", "USA")
    decision = policy.may_view(item, "USA", Classification.SECRET, "USA", day("2024-05-01"))
    assert not decision.allowed
    assert decision.rule == "view.clearance"


def test_tlp_red_is_shown_only_to_owner_and_recipient_nationals(policy: Policy) -> None:
    item = Subject(parse_label("UNCLASSIFIED//TLP:RED", owner="KOR"), ("cyber",), ("JPN",))
    at = day("2024-05-01")
    assert policy.may_view(item, "KOR", Classification.UNCLASSIFIED, "KOR", at).allowed
    # a Japanese recipient may view it on the Korean node (never receiving a copy), audited
    seen = policy.may_view(item, "JPN", Classification.SECRET, "KOR", at)
    assert seen.allowed
    assert seen.requires == ("audit-view",)
    assert not policy.decide(item, "KOR", "JPN", at).allowed
    # a US liaison officer on the Korean node is not a recipient
    assert not policy.may_view(item, "USA", Classification.SECRET, "KOR", at).allowed
    # a US node should never hold it; its own nationals are refused
    assert not policy.may_view(item, "USA", Classification.SECRET, "USA", at).allowed


def test_tlp_amber_on_a_recipients_node_is_shown_to_its_nationals(policy: Policy) -> None:
    item = Subject(parse_label("UNCLASSIFIED//TLP:AMBER", owner="KOR"), ("cyber",), ("JPN",))
    at = day("2024-05-01")
    assert policy.may_view(item, "JPN", Classification.UNCLASSIFIED, "JPN", at).allowed
    assert not policy.may_view(item, "USA", Classification.SECRET, "USA", at).allowed


def test_node_holding_an_item_its_label_forbids_shows_it_to_nobody(policy: Policy) -> None:
    item = _item("SECRET//REL TO USA, JPN", "JPN")
    decision = policy.may_view(item, "KOR", Classification.TOP_SECRET, "KOR", day("2024-05-01"))
    assert not decision.allowed
    assert decision.rule == "view.holding"


def test_viewer_from_unknown_nation_is_denied(policy: Policy) -> None:
    decision = policy.may_view(JPN_REPORT, "XXX", Classification.SECRET, "USA", day("2024-05-01"))
    assert not decision.allowed
    assert decision.rule == "7.unknown"


def test_foreign_viewer_of_the_originating_nation_sees_its_own_item(policy: Policy) -> None:
    item = _item("SECRET//NOFORN", "JPN")
    decision = policy.may_view(item, "JPN", Classification.SECRET, "USA", day("2024-05-01"))
    assert decision.allowed
    assert decision.rule == "3.owner"


# --- the API -----------------------------------------------------------------------------------


def test_decision_as_dict_has_the_stable_keys(policy: Policy) -> None:
    decision = policy.decide(JPN_REPORT, "JPN", "KOR", day("2019-09-01"))
    assert decision.as_dict() == {
        "decision": "allow",
        "agreement": "GSOMIA-JPN-KOR-2016",
        "route": ["JPN", "KOR"],
        "requires": [],
        "reasons": list(decision.reasons),
        "rule": "5.direct",
        "warnings": list(decision.warnings),
    }
    assert any("2019-08-23" in w for w in decision.warnings)


def test_decision_constructors_put_the_deciding_reason_first() -> None:
    allowed = Decision.allow("first", "second", rule="x", route=["USA", "JPN"])
    assert allowed.allowed
    assert allowed.reasons == ("first", "second")
    assert allowed.route == ("USA", "JPN")
    denied = Decision.deny("why", rule="y", requires=["originator-consent"])
    assert not denied.allowed
    assert denied.requires == ("originator-consent",)
    assert str(ReleaseDenied(denied)) == "why"


def test_any_object_with_the_releasable_attributes_is_judged(policy: Policy) -> None:
    @dataclass(frozen=True)
    class Envelope:
        label: Label
        topics: tuple[str, ...]
        recipients: tuple[str, ...]
        id: str | None
        body: str

    envelope: Releasable = Envelope(JPN_REPORT.label, ("dprk.missile",), (), "e-1", "text")
    assert policy.decide(envelope, "JPN", "KOR", day("2017-03-01")).allowed


def test_unhashable_topics_are_judged_without_the_cache(policy: Policy) -> None:
    @dataclass
    class Loose:
        label: Label
        topics: list[str]
        recipients: list[str]
        id: str | None = None

    loose = Loose(JPN_REPORT.label, ["dprk.missile"], [])
    decision = policy.decide(loose, "JPN", "KOR", day("2017-03-01"))  # type: ignore[arg-type]
    assert decision.allowed


def test_naive_time_is_denied(policy: Policy) -> None:
    decision = policy.decide(JPN_REPORT, "JPN", "KOR", datetime(2017, 3, 1))
    assert not decision.allowed
    assert decision.rule == "7.unknown"


def test_label_without_owner_is_denied(policy: Policy) -> None:
    item = Subject(parse_label("SECRET//REL TO USA, JPN, KOR"), ("dprk.missile",))
    decision = policy.decide(item, "USA", "KOR", day("2020-01-01"))
    assert not decision.allowed
    assert decision.rule == "7.unknown"


def test_contradictory_hand_built_label_releases_to_nobody(policy: Policy) -> None:
    label = Label(Classification.SECRET, frozenset({"JPN", "USA"}), frozenset({"NOFORN"}))
    item = Subject(Label(**{**_fields(label), "owner": "USA"}), ("dprk.missile",))
    decision = policy.decide(item, "USA", "JPN", day("2020-01-01"))
    assert not decision.allowed
    assert "illegal" in decision.reasons[0]


def _fields(label: Label) -> dict[str, object]:
    return {name: getattr(label, name) for name in Label.__dataclass_fields__}


def test_same_agreement_loaded_twice_is_refused() -> None:
    agreements = agreement_set("shipped")
    with pytest.raises(PolicyError, match="loaded twice"):
        Policy([*agreements, agreements[0]])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"destinations": frozenset()},
        {"destinations": frozenset({"KOR"}), "kind": "approval"},
        {"destinations": frozenset({"KOR"})},  # standing without topic and ceiling
        {"destinations": frozenset({"KOR"}), "topic": "Bad Topic", "ceiling": 2},
        {"destinations": frozenset({"KOR"}), "item_id": "x", "valid_from": datetime(2020, 1, 1)},
        {
            "destinations": frozenset({"KOR"}),
            "item_id": "x",
            "valid_from": datetime(2020, 1, 2, tzinfo=UTC),
            "valid_until": datetime(2020, 1, 1, tzinfo=UTC),
        },
    ],
)
def test_malformed_consent_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        Consent("JPN", **kwargs)  # type: ignore[arg-type]


def test_consent_accepts_any_iterable_of_destinations() -> None:
    consent = Consent("JPN", ("KOR", "USA"), item_id="x")  # type: ignore[arg-type]
    assert consent.destinations == frozenset({"KOR", "USA"})
    assert not consent.standing
    assert hash(consent) == hash(Consent("JPN", frozenset({"USA", "KOR"}), item_id="x"))


# --- the cache --------------------------------------------------------------------------------


def test_cache_is_bounded() -> None:
    policy = Policy(agreement_set("shipped"), cache_size=8)
    for offset in range(50):
        policy.decide(JPN_REPORT, "JPN", "KOR", day("2017-03-01") + timedelta(days=offset * 400))
        policy.decide(JPN_REPORT, "USA", "KOR", day("2017-03-01") + timedelta(days=offset))
    entries, capacity = policy.cache_info()
    assert entries <= capacity == 8


def test_cached_decision_follows_the_agreement_boundary_to_the_microsecond() -> None:
    policy = Policy(agreement_set("shipped"))
    start = datetime(2016, 11, 23, tzinfo=UTC)
    for _ in range(2):  # second round is served from the cache
        assert not policy.decide(
            JPN_REPORT, "JPN", "KOR", start - timedelta(microseconds=1)
        ).allowed
        assert policy.decide(JPN_REPORT, "JPN", "KOR", start).allowed


def test_period_index_changes_only_at_boundaries() -> None:
    policy = Policy(agreement_set("shipped"))
    boundaries = policy.boundaries
    assert boundaries == tuple(sorted(boundaries))
    for instant in boundaries[1:]:
        before = policy.period_index(instant - timedelta(microseconds=1))
        assert policy.period_index(instant) == before + 1


def test_consents_outside_their_window_do_not_leak_through_the_cache() -> None:
    policy = Policy(agreement_set("shipped"))
    consent = Consent(
        "JPN",
        frozenset({"KOR"}),
        item_id="item-1",
        valid_until=datetime(2015, 6, 1, 12, tzinfo=UTC),
    )
    early = datetime(2015, 6, 1, 11, tzinfo=UTC)
    late = datetime(2015, 6, 1, 13, tzinfo=UTC)
    assert policy.period_index(early) == policy.period_index(late)
    assert policy.decide(JPN_REPORT, "USA", "KOR", early, [consent]).allowed
    assert not policy.decide(JPN_REPORT, "USA", "KOR", late, [consent]).allowed


def test_per_item_consent_is_not_reused_for_another_item_through_the_cache() -> None:
    policy = Policy(agreement_set("shipped"))
    consent = Consent("JPN", frozenset({"KOR"}), item_id="item-1")
    other = Subject(JPN_REPORT.label, JPN_REPORT.topics, (), "item-2")
    assert policy.decide(JPN_REPORT, "USA", "KOR", day("2015-06-01"), [consent]).allowed
    assert not policy.decide(other, "USA", "KOR", day("2015-06-01"), [consent]).allowed


def test_clear_cache_empties_it(policy: Policy) -> None:
    policy.decide(JPN_REPORT, "JPN", "KOR", day("2017-03-01"))
    policy.clear_cache()
    assert policy.cache_info()[0] == 0


def test_equal_labels_built_separately_get_the_same_cached_decision() -> None:
    policy = Policy(agreement_set("shipped"))
    first = Subject(parse_label("SECRET//REL TO USA, JPN, KOR", owner="JPN"), ("dprk.missile",))
    again = Subject(
        Label(
            Classification.SECRET,
            rel_to=frozenset({"KOR", "USA", "JPN"}),
            owner="JPN",
        ),
        ("dprk.missile",),
    )
    assert first.label is not again.label
    assert policy.decide(first, "JPN", "KOR", day("2017-03-01")) is policy.decide(
        again, "JPN", "KOR", day("2017-03-01")
    )


def test_tiny_cache_with_many_labels_still_answers_exactly() -> None:
    policy = Policy(agreement_set("shipped"), cache_size=4)
    banners = ["SECRET//REL TO USA, JPN, KOR", "SECRET//NOFORN", "SECRET//REL TO USA, KOR"]
    subjects = [
        Subject(parse_label(b, owner=o), ("dprk.missile",))
        for b in banners
        for o in ("USA", "JPN", "KOR")
    ]
    for _ in range(3):
        for subject in subjects:
            for to in ("USA", "JPN", "KOR"):
                at = day("2015-06-01")
                assert policy.decide(subject, "USA", to, at) == policy.decide_uncached(
                    subject, "USA", to, at
                )
    assert policy.cache_info()[0] <= 4
