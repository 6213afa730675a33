"""Agreements as code: parsing, validation, time, and the shipped set (SPEC §3)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.core.policy_support import FIXTURE_AGREEMENTS, day
from trilat.agreement_files import (
    check_agreements,
    load_agreements,
    load_policy,
    shipped_directory,
)
from trilat.core.agreements import (
    Agreement,
    PeriodStatus,
    ThirdParty,
    Topology,
    parse_agreement,
    topic_covered,
)
from trilat.core.errors import AgreementError
from trilat.core.labels import Classification, parse_label, render_national
from trilat.core.policy import Subject

TISA = """
id = "TISA-2014"
name = "Trilateral Information Sharing Arrangement"
parties = ["USA", "JPN", "KOR"]
topology = "hub"
hub = "USA"
binding = false
topics = ["dprk.nuclear", "dprk.missile"]
max_classification = "SECRET"
third_party = "originator-consent"
periods = [{ from = 2014-12-29 }]
source = "DoD News Transcript 632-14 (2014-12-28); Japan Times 2014-12-29"
"""


def _variant(old: str, new: str) -> str:
    assert old in TISA
    return TISA.replace(old, new)


def test_spec_example_parses_into_the_model() -> None:
    agreement = parse_agreement(TISA, source="tisa.toml")
    assert agreement.id == "TISA-2014"
    assert agreement.parties == frozenset({"USA", "JPN", "KOR"})
    assert agreement.topology is Topology.HUB
    assert agreement.hub == "USA"
    assert agreement.binding is False
    assert agreement.topics == ("dprk.nuclear", "dprk.missile")
    assert agreement.max_classification is Classification.SECRET
    assert agreement.third_party is ThirdParty.ORIGINATOR_CONSENT
    assert agreement.periods[0].start == date(2014, 12, 29)
    assert agreement.periods[0].end is None
    assert agreement.periods[0].status is PeriodStatus.IN_FORCE


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ('source = "', 'colour = "blue"\nsource = "', "colour", "unknown key"),
        ('parties = ["USA", "JPN", "KOR"]', 'parties = ["USA"]', "parties", "at least two"),
        ('parties = ["USA", "JPN", "KOR"]', 'parties = ["USA", "JPX"]', "parties", "JPX"),
        ('parties = ["USA", "JPN", "KOR"]', 'parties = ["USA", "JPN", "JPN"]', "parties", "twice"),
        ('hub = "USA"', 'hub = "GBR"', "hub", "not a party"),
        ('hub = "USA"\n', "", "hub", "must name its hub"),
        ('topology = "hub"', 'topology = "star"', "topology", "hub, bilateral or multilateral"),
        (
            'third_party = "originator-consent"',
            'third_party = "anyone"',
            "third_party",
            "forbidden, originator-consent or parties",
        ),
        ('"SECRET"', '"VERY SECRET"', "max_classification", "unknown classification"),
        ('"SECRET"', '"UNCLASSIFIED"', "max_classification", "must be classified"),
        ('topics = ["dprk.nuclear", "dprk.missile"]', "topics = []", "topics", "at least one"),
        ('"dprk.missile"]', '"DPRK Missile"]', "topics", "malformed topic"),
        ("{ from = 2014-12-29 }", '{ from = "2014-12-29" }', "periods[0].from", "date"),
        ("{ from = 2014-12-29 }", "{ since = 2014-12-29 }", "periods[0].since", "unknown key"),
        ("{ from = 2014-12-29 }", "{ to = 2014-12-29 }", "periods[0].from", "missing"),
        (
            "{ from = 2014-12-29 }",
            "{ from = 2014-12-29, to = 2014-12-01 }",
            "periods[0]",
            "before 'from'",
        ),
        (
            "{ from = 2014-12-29 }",
            '{ from = 2014-12-29, status = "dormant" }',
            "periods[0].status",
            "in-force or suspended",
        ),
        (
            "{ from = 2014-12-29 }",
            "{ from = 2016-01-01 }, { from = 2014-12-29 }",
            "periods[1]",
            "in order",
        ),
        (
            "{ from = 2014-12-29 }",
            "{ from = 2014-12-29 }, { from = 2015-01-01 }",
            "periods",
            "overlap",
        ),
        (
            "{ from = 2014-12-29 }",
            '{ from = 2014-12-29, status = "suspended" }',
            "periods",
            "at least one in-force period",
        ),
        ("periods = [{ from = 2014-12-29 }]", "periods = []", "periods", "non-empty"),
        ("binding = false", 'binding = "no"', "binding", "true or false"),
        ('id = "TISA-2014"', 'id = "tisa 2014"', "id", "upper-case"),
        ('source = "DoD', 'name2 = 1\nsource = "DoD', "name2", "unknown key"),
    ],
)
def test_malformed_agreement_is_refused_naming_file_and_key(
    old: str, new: str, key: str, reason: str
) -> None:
    with pytest.raises(AgreementError) as caught:
        parse_agreement(_variant(old, new), source="bad.toml")
    assert caught.value.source == "bad.toml"
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith("bad.toml: ")


def test_missing_required_key_is_named() -> None:
    with pytest.raises(AgreementError) as caught:
        parse_agreement(_variant('source = "DoD', 'sauce = "DoD'), source="x.toml")
    assert caught.value.key in {"sauce", "source"}


def test_invalid_toml_is_refused() -> None:
    with pytest.raises(AgreementError, match="not valid TOML"):
        parse_agreement("id = ", source="broken.toml")


def test_bilateral_agreement_has_exactly_two_parties() -> None:
    text = _variant('topology = "hub"\nhub = "USA"', 'topology = "bilateral"')
    with pytest.raises(AgreementError, match="exactly two parties"):
        parse_agreement(text)


def test_only_a_hub_agreement_names_a_hub() -> None:
    with pytest.raises(AgreementError, match="only a hub agreement"):
        parse_agreement(_variant('topology = "hub"', 'topology = "multilateral"'))


def test_constructor_refuses_an_agreement_without_parties() -> None:
    good = parse_agreement(TISA)
    with pytest.raises(AgreementError, match="at least two parties"):
        Agreement(
            id="EMPTY",
            name="empty",
            parties=frozenset(),
            topology=Topology.MULTILATERAL,
            topics=("*",),
            max_classification=Classification.SECRET,
            third_party=ThirdParty.PARTIES,
            periods=good.periods,
            source="nowhere",
        )


def test_in_force_starts_at_utc_midnight_of_the_first_day() -> None:
    agreement = parse_agreement(TISA)
    first = datetime(2014, 12, 29, tzinfo=UTC)
    assert not agreement.in_force(first - timedelta(microseconds=1))
    assert agreement.in_force(first)
    assert agreement.in_force(datetime(2014, 12, 29, 9, 0, tzinfo=timezone(timedelta(hours=9))))
    assert not agreement.in_force(
        datetime(2014, 12, 29, 8, 59, tzinfo=timezone(timedelta(hours=9)))
    )


def test_in_force_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        parse_agreement(TISA).in_force(datetime(2020, 1, 1))


def test_suspended_period_overrides_and_says_why() -> None:
    text = _variant(
        "periods = [{ from = 2014-12-29 }]",
        "periods = [{ from = 2014-12-29 }, "
        '{ from = 2017-01-01, to = 2017-01-31, status = "suspended", note = "under review" }]',
    )
    agreement = parse_agreement(text)
    assert agreement.in_force(day("2016-12-31"))
    assert not agreement.in_force(day("2017-01-01", hour=0))
    assert not agreement.in_force(datetime(2017, 1, 31, 23, 59, 59, tzinfo=UTC))
    assert agreement.in_force(day("2017-02-01", hour=0))
    in_force, why = agreement.state_at(day("2017-01-15"))
    assert not in_force
    assert why == "TISA-2014 is suspended 2017-01-01 to 2017-01-31: under review"


def test_ended_period_is_reported() -> None:
    text = _variant("{ from = 2014-12-29 }", "{ from = 2014-12-29, to = 2015-12-31 }")
    agreement = parse_agreement(text)
    assert agreement.in_force(datetime(2015, 12, 31, 23, 59, tzinfo=UTC))
    assert agreement.state_at(day("2016-01-01")) == (
        False,
        "TISA-2014 is not in force at that time (ended 2015-12-31)",
    )


def test_boundaries_are_the_instants_where_state_or_warnings_change() -> None:
    agreement = next(a for a in load_agreements() if a.id == "GSOMIA-JPN-KOR-2016")
    days = sorted(b.date().isoformat() for b in agreement.boundaries())
    assert days == ["2016-11-23", "2019-08-23", "2019-11-22", "2023-03-21", "2023-03-22"]


def test_topic_patterns_match_dotted_prefixes_only() -> None:
    assert topic_covered("dprk.missile.warning", "dprk.missile")
    assert topic_covered("dprk.missile", "dprk.missile")
    assert topic_covered("anything.at.all", "*")
    assert not topic_covered("dprk.missiles", "dprk.missile")
    assert not topic_covered("dprk", "dprk.missile")


def test_shipped_set_holds_the_five_real_agreements_with_sources() -> None:
    agreements = {a.id: a for a in load_agreements()}
    assert set(agreements) == {
        "GSOMIA-USA-KOR-1987",
        "GSOMIA-USA-JPN-2007",
        "TISA-2014",
        "GSOMIA-JPN-KOR-2016",
        "MWDS-2023",
    }
    facts = {
        a.id: (
            tuple(sorted(a.parties)),
            a.topology.value,
            a.hub,
            a.topics,
            a.max_classification.name,
            a.third_party.value,
            a.periods[0].start.isoformat(),
        )
        for a in agreements.values()
    }
    assert facts == {
        "GSOMIA-USA-KOR-1987": (
            ("KOR", "USA"), "bilateral", None, ("*",), "TOP_SECRET", "originator-consent",
            "1987-09-24",
        ),
        "GSOMIA-USA-JPN-2007": (
            ("JPN", "USA"), "bilateral", None, ("*",), "TOP_SECRET", "originator-consent",
            "2007-08-10",
        ),
        "TISA-2014": (
            ("JPN", "KOR", "USA"), "hub", "USA", ("dprk.nuclear", "dprk.missile"), "SECRET",
            "originator-consent", "2014-12-29",
        ),
        "GSOMIA-JPN-KOR-2016": (
            ("JPN", "KOR"), "bilateral", None, ("*",), "SECRET", "originator-consent",
            "2016-11-23",
        ),
        "MWDS-2023": (
            ("JPN", "KOR", "USA"), "hub", "USA", ("dprk.missile.warning",), "SECRET", "parties",
            "2023-12-19",
        ),
    }  # fmt: skip
    for agreement in agreements.values():
        assert agreement.source.strip()
        assert all(p.status is PeriodStatus.IN_FORCE for p in agreement.periods)


def test_shipped_files_are_named_after_their_ids() -> None:
    for path in shipped_directory().glob("*.toml"):
        assert parse_agreement(path.read_text(encoding="utf-8")).id == path.stem


def test_japan_korea_gsomia_never_lapsed_and_warns_about_the_2019_notice() -> None:
    agreement = next(a for a in load_agreements() if a.id == "GSOMIA-JPN-KOR-2016")
    for text in ("2019-08-23", "2019-11-22", "2019-11-23", "2020-06-01", "2023-03-21"):
        assert agreement.in_force(day(text)), text
    assert any("notice of termination" in w for w in agreement.warnings(day("2019-09-01")))
    assert any("suspended" in w for w in agreement.warnings(day("2021-01-01")))
    assert not any("2019" in w for w in agreement.warnings(day("2019-08-22")))
    assert any("90 days" in w for w in agreement.warnings(day("2024-01-01")))
    assert agreement.warnings(day("2016-01-01")) == ()


def test_national_markings_render_korean_and_japanese_levels() -> None:
    agreement = next(a for a in load_agreements() if a.id == "GSOMIA-JPN-KOR-2016")
    label = parse_label("SECRET//REL TO USA, JPN, KOR", owner="JPN")
    assert render_national(label, agreement.marking_table("KOR")).startswith("군사 II급비밀")
    assert render_national(label, agreement.marking_table("JPN")).startswith("極秘")
    assert agreement.marking("JPN", Classification.CONFIDENTIAL) == "秘"
    assert agreement.marking("USA", Classification.SECRET) is None
    us_korea = next(a for a in load_agreements() if a.id == "GSOMIA-USA-KOR-1987")
    assert us_korea.marking("KOR", Classification.TOP_SECRET) == "군사 I급비밀"


def test_marking_for_a_non_party_is_refused() -> None:
    text = TISA + '\n[markings.GBR]\n"SECRET" = "SECRET"\n'
    with pytest.raises(AgreementError) as caught:
        parse_agreement(text, source="m.toml")
    assert caught.value.key == "markings"


def test_marking_with_unknown_level_is_refused() -> None:
    text = TISA + '\n[markings.KOR]\n"ULTRA" = "x"\n'
    with pytest.raises(AgreementError) as caught:
        parse_agreement(text, source="m.toml")
    assert caught.value.key == "markings.KOR.ULTRA"


def test_notice_needs_a_text_and_a_start() -> None:
    with pytest.raises(AgreementError) as caught:
        parse_agreement(TISA + "notices = [{ text = 'x' }]\n", source="n.toml")
    assert caught.value.key == "notices[0].from"


def test_directory_with_a_bad_file_loads_nothing(tmp_path: Path) -> None:
    (tmp_path / "TISA-2014.toml").write_text(TISA, encoding="utf-8")
    (tmp_path / "broken.toml").write_text(_variant('hub = "USA"', 'hub = "GBR"'), "utf-8")
    with pytest.raises(AgreementError) as caught:
        load_agreements(tmp_path)
    assert caught.value.source == "broken.toml"
    agreements, errors = check_agreements(tmp_path)
    assert [a.id for a in agreements] == ["TISA-2014"]
    assert [e.source for e in errors] == ["broken.toml"]


def test_duplicate_ids_in_a_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(TISA, encoding="utf-8")
    (tmp_path / "b.toml").write_text(TISA, encoding="utf-8")
    agreements, errors = check_agreements(tmp_path)
    assert len(agreements) == 1
    assert errors[0].source == "b.toml"
    assert "also defined in a.toml" in errors[0].reason


def test_missing_or_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AgreementError, match="not a readable directory"):
        load_agreements(tmp_path / "absent")
    with pytest.raises(AgreementError, match=r"no \*\.toml agreement files"):
        load_agreements(tmp_path)


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latin.toml").write_bytes(TISA.encode("utf-8") + b"# \xff\n")
    with pytest.raises(AgreementError, match="not UTF-8"):
        load_agreements(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "TISA-2014.toml"
    path.write_text(TISA, encoding="utf-8")
    path.chmod(0)
    with pytest.raises(AgreementError, match="cannot read"):
        load_agreements(tmp_path)


def test_unloadable_directory_fails_closed_and_says_why(tmp_path: Path) -> None:
    policy = load_policy(tmp_path / "absent")
    assert policy.agreements == ()
    secret = Subject(parse_label("SECRET//REL TO USA, JPN", owner="USA"), ("dprk.missile",))
    decision = policy.decide(secret, "USA", "JPN", day("2020-01-01"))
    assert not decision.allowed
    assert "agreements not loaded" in decision.reasons[0]
    assert "not a readable directory" in decision.reasons[0]
    public = Subject(parse_label("UNCLASSIFIED", owner="USA"), ("public",))
    assert policy.decide(public, "USA", "JPN", day("2020-01-01")).allowed


def test_fixture_agreements_load() -> None:
    ids = {a.id for a in load_agreements(FIXTURE_AGREEMENTS)}
    assert "TEST-USA-GBR-2010" in ids
