"""Labels: grammar, canonical rendering, marking rules, roll-up and releasability (SPEC §2)."""

from __future__ import annotations

import pytest

from trilat.core._markings import ISO_ALPHA3
from trilat.core.errors import LabelError, TrilatError
from trilat.core.labels import (
    CONTROL_ORDER,
    MAX_LABEL_LENGTH,
    TETRAGRAPHS,
    Classification,
    Label,
    Tlp,
    check_tetragraphs,
    dissem_markings,
    format_banner,
    format_portion,
    is_nation,
    is_tetragraph,
    ordered_codes,
    parse_label,
    render_national,
    roll_up,
)

TRIL = {"TRIL": frozenset({"USA", "JPN", "KOR"})}


def banner(text: str) -> str:
    return format_banner(parse_label(text))


def rolled(*portions: str) -> str:
    return format_banner(roll_up(parse_label(p) for p in portions))


# --- grammar and canonical rendering ---------------------------------------------------


def test_rel_to_list_is_normalised_to_usa_first_then_alphabetical() -> None:
    assert banner("secret//rel to kor, usa, jpn") == "SECRET//REL TO USA, JPN, KOR"


def test_parsed_label_has_the_canonical_fields() -> None:
    label = parse_label("SECRET//REL TO USA, JPN, KOR", owner="JPN")
    assert label == Label(
        Classification.SECRET, rel_to=frozenset({"USA", "JPN", "KOR"}), owner="JPN"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(S//NF)", "SECRET//NOFORN"),
        ("(TS//NF)", "TOP SECRET//NOFORN"),
        ("(U)", "UNCLASSIFIED"),
        ("(C)", "CONFIDENTIAL"),
        ("TOP SECRET//ORCON/NOFORN", "TOP SECRET//ORCON/NOFORN"),
        ("UNCLASSIFIED//FOUO", "UNCLASSIFIED//FOUO"),
        ("(S//OC/NF)", "SECRET//ORCON/NOFORN"),
        ("(S//REL USA, JPN)", "SECRET//REL TO USA, JPN"),
        ("  top   secret //  nf  ", "TOP SECRET//NOFORN"),
        ("S//NOT RELEASABLE TO FOREIGN NATIONALS", "SECRET//NOFORN"),
        ("(S//IMC/PR/RS/NF)", "SECRET//RSEN/IMCON/NOFORN/PROPIN"),
        ("secret\t//\trel to usa,jpn", "SECRET//REL TO USA, JPN"),
    ],
)
def test_banner_and_portion_forms_render_as_the_canonical_banner(text: str, expected: str) -> None:
    assert banner(text) == expected


def test_controls_render_in_the_spec_order_whatever_the_input_order() -> None:
    text = "S//FISA/DSEN/USA/GBR EYES/RELIDO/PROPIN/IMCON/ORCON/RSEN/DISPLAY ONLY AFG"
    assert banner(text) == (
        "SECRET//RSEN/ORCON/IMCON/PROPIN/RELIDO/USA/GBR EYES ONLY/DSEN/FISA/DISPLAY ONLY AFG"
    )
    assert CONTROL_ORDER.index("REL TO") < CONTROL_ORDER.index("RELIDO")


def test_rel_to_renders_before_relido_and_tlp_comes_last() -> None:
    text = "(s//display only irq, afg/fisa/relido/rel to kor, usa/dsen//tlp:amber)"
    assert banner(text) == (
        "SECRET//REL TO USA, KOR/RELIDO/DSEN/FISA/DISPLAY ONLY AFG, IRQ//TLP:AMBER"
    )


def test_portion_form_uses_abbreviations_and_eyes_without_only() -> None:
    label = parse_label("TOP SECRET//RSEN/ORCON/IMCON/PROPIN/USA/GBR EYES ONLY")
    assert format_portion(label) == "(TS//RS/OC/IMC/PR/USA/GBR EYES)"
    assert format_portion(parse_label("SECRET//NOFORN")) == "(S//NF)"


def test_tetragraphs_follow_trigraphs_in_alphabetical_order() -> None:
    assert banner("S//REL TO TEYE, nzl, FVEY, USA, ACGU, AUS") == (
        "SECRET//REL TO USA, AUS, NZL, ACGU, FVEY, TEYE"
    )
    assert ordered_codes(["FVEY", "KOR", "USA", "JPN", "ACGU"]) == [
        "USA",
        "JPN",
        "KOR",
        "ACGU",
        "FVEY",
    ]


def test_duplicate_countries_and_controls_are_removed() -> None:
    assert banner("S//NF/NOFORN/nf") == "SECRET//NOFORN"
    assert banner("S//REL TO JPN, USA, JPN, usa") == "SECRET//REL TO USA, JPN"


def test_tlp_is_its_own_last_category_and_round_trips() -> None:
    label = parse_label("UNCLASSIFIED//TLP:AMBER+STRICT//FOUO")
    assert label.tlp is Tlp.AMBER_STRICT
    assert format_banner(label) == "UNCLASSIFIED//FOUO//TLP:AMBER+STRICT"
    assert format_portion(label) == "(U//FOUO//TLP:AMBER+STRICT)"
    assert parse_label(format_portion(label)) == label


def test_tlp_spelling_is_normalised_and_tlp_white_reads_as_clear() -> None:
    assert parse_label("u//tlp: amber + strict").tlp is Tlp.AMBER_STRICT
    assert parse_label("U//TLP:WHITE").tlp is Tlp.CLEAR
    assert banner("U//TLP:WHITE") == "UNCLASSIFIED//TLP:CLEAR"


def test_unclassified_without_controls_is_the_plain_label() -> None:
    assert parse_label("UNCLASSIFIED") == Label(Classification.UNCLASSIFIED)
    assert parse_label("(U)", owner="KOR") == Label(Classification.UNCLASSIFIED, owner="KOR")


def test_str_of_a_label_is_its_banner() -> None:
    assert str(parse_label("(C//REL TO USA, KOR)")) == "CONFIDENTIAL//REL TO USA, KOR"


def test_dissem_markings_list_the_non_rel_to_markings_in_order() -> None:
    label = parse_label("S//REL TO USA, GBR/ORCON/DISPLAY ONLY AFG")
    assert dissem_markings(label) == ["ORCON", "DISPLAY ONLY AFG"]
    eyes = parse_label("S//GBR/USA EYES")
    assert dissem_markings(eyes) == ["USA/GBR EYES ONLY"]
    assert dissem_markings(eyes, banner=False) == ["USA/GBR EYES"]


def test_classification_words_and_levels_are_ordered() -> None:
    assert Classification.TOP_SECRET.banner == "TOP SECRET"
    assert Classification.CONFIDENTIAL.portion == "C"
    assert max(Classification) is Classification.TOP_SECRET
    assert Classification.UNCLASSIFIED < Classification.CONFIDENTIAL < Classification.SECRET


def test_repeated_parses_are_served_from_the_cache() -> None:
    text = "CONFIDENTIAL//REL TO USA, JPN, KOR/PROPIN"
    assert parse_label(text) is parse_label(text)
    assert parse_label(text, owner="USA") is not parse_label(text, owner="JPN")


# --- errors: one test per rule, each naming the token and its offset ----------------------


def token_of(exc: LabelError) -> str:
    return exc.token


def error(text: str, **kwargs: object) -> LabelError:
    with pytest.raises(LabelError) as caught:
        parse_label(text, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_unknown_country_trigraph_is_named_with_its_offset() -> None:
    exc = error("SECRET//REL TO USA, JPX")
    assert (exc.token, exc.position, exc.reason) == ("JPX", 20, "unknown country trigraph")
    assert str(exc) == ("unknown country trigraph: 'JPX' at offset 20 in 'SECRET//REL TO USA, JPX'")
    assert isinstance(exc, ValueError)
    assert isinstance(exc, TrilatError)


def test_unknown_tetragraph_is_refused() -> None:
    exc = error("S//REL TO USA, TRIL")
    assert (exc.token, exc.position, exc.reason) == ("TRIL", 15, "unknown tetragraph")


def test_unknown_code_of_other_length_is_refused() -> None:
    exc = error("S//REL TO USA, US")
    assert (exc.token, exc.reason) == ("US", "unknown country code")


def test_unknown_classification_is_refused() -> None:
    exc = error("SEKRET//NF")
    assert (exc.token, exc.position, exc.reason) == ("SEKRET", 0, "unknown classification")
    assert error("RESTRICTED").reason == "unknown classification"
    assert error("TLP:AMBER").reason == "unknown classification"


def test_unknown_control_is_refused() -> None:
    exc = error("SECRET//NOFORM")
    assert (exc.token, exc.position, exc.reason) == ("NOFORM", 8, "unknown dissemination control")
    assert token_of(error("S//REL TO USA, JPN/SI")) == "SI"
    assert error("S//DISPLAY AFG").reason == "unknown dissemination control"


def test_unknown_tlp_colour_is_refused() -> None:
    exc = error("U//TLP:PURPLE")
    assert token_of(exc) == "TLP:PURPLE"
    assert exc.reason.startswith("unknown TLP")


def test_rel_to_with_one_nation_says_use_noforn() -> None:
    exc = error("SECRET//REL TO USA")
    assert (exc.token, exc.position) == ("REL TO USA", 8)
    assert exc.reason == "REL TO needs more than one country (use NOFORN)"
    assert error("S//REL TO USA, usa").reason.endswith("(use NOFORN)")


def test_rel_to_one_tetragraph_names_enough_nations() -> None:
    assert banner("S//REL TO FVEY") == "SECRET//REL TO FVEY"


def test_eyes_only_with_one_nation_says_use_noforn() -> None:
    exc = error("S//USA EYES ONLY")
    assert exc.reason == "EYES ONLY needs more than one country (use NOFORN)"


def test_rel_to_and_noforn_together_are_refused() -> None:
    exc = error("SECRET//NOFORN/REL TO USA, JPN")
    assert (exc.token, exc.position) == ("REL TO USA, JPN", 15)
    assert exc.reason == "NOFORN and REL TO exclude each other"
    assert token_of(error("S//REL TO USA, JPN/NF")) == "NF"


def test_rel_to_and_eyes_only_together_are_refused() -> None:
    exc = error("S//REL TO USA, JPN/USA/GBR EYES ONLY")
    assert exc.reason == "REL TO and EYES ONLY exclude each other"
    assert (exc.token, exc.position) == ("USA/GBR EYES ONLY", 19)


def test_eyes_only_and_noforn_together_are_refused() -> None:
    exc = error("S//NF/USA/GBR EYES")
    assert exc.reason == "NOFORN and EYES ONLY exclude each other"
    assert token_of(exc) == "USA/GBR EYES"


def test_rel_to_eyes_only_and_noforn_all_together_are_refused() -> None:
    exc = error("S//REL TO USA, JPN/USA/GBR EYES ONLY/NOFORN")
    assert "exclude each other" in exc.reason


def test_relido_and_noforn_together_are_refused() -> None:
    exc = error("S//NF/RELIDO")
    assert (exc.token, exc.reason) == ("RELIDO", "NOFORN and RELIDO exclude each other")


def test_display_only_and_noforn_together_are_refused() -> None:
    exc = error("S//DISPLAY ONLY AFG/NOFORN")
    assert (exc.token, exc.reason) == ("NOFORN", "NOFORN and DISPLAY ONLY exclude each other")


def test_display_only_relido_and_noforn_all_together_are_refused() -> None:
    assert "exclude each other" in error("S//RELIDO/NOFORN/DISPLAY ONLY AFG").reason


def test_display_only_with_relido_but_no_noforn_is_accepted() -> None:
    assert banner("S//DISPLAY ONLY AFG/RELIDO") == "SECRET//RELIDO/DISPLAY ONLY AFG"


def test_display_only_to_a_nation_already_released_to_is_refused() -> None:
    exc = error("S//REL TO USA, FVEY/DISPLAY ONLY NZL")
    assert token_of(exc) == "DISPLAY ONLY NZL"
    assert "already releases" in exc.reason


def test_orcon_on_unclassified_is_refused() -> None:
    exc = error("UNCLASSIFIED//ORCON")
    assert (exc.token, exc.position, exc.reason) == (
        "ORCON",
        14,
        "ORCON is not used on UNCLASSIFIED",
    )
    assert token_of(error("(U//OC)")) == "OC"


def test_fouo_on_classified_is_refused() -> None:
    exc = error("CONFIDENTIAL//FOUO")
    assert (exc.token, exc.reason) == ("FOUO", "FOUO is not used on classified labels")


def test_tlp_clear_on_classified_is_refused() -> None:
    exc = error("SECRET//NOFORN//TLP:CLEAR")
    assert token_of(exc) == "TLP:CLEAR"
    assert "classified" in exc.reason


def test_empty_category_is_refused() -> None:
    exc = error("SECRET////NOFORN")
    assert (exc.token, exc.position, exc.reason) == ("//", 6, "empty category")
    assert error("//NOFORN").reason == "empty classification category"


def test_empty_control_between_slashes_is_refused() -> None:
    exc = error("SECRET//ORCON/ /NOFORN")
    assert (exc.token, exc.position, exc.reason) == ("/", 15, "empty control")


def test_empty_entry_in_a_country_list_is_refused() -> None:
    exc = error("S//REL TO USA,, JPN")
    assert (exc.token, exc.position) == (",", 14)
    assert error("S//REL TO").reason == "REL TO lists no country"
    assert error("S//DISPLAY ONLY").reason == "DISPLAY ONLY lists no country"


@pytest.mark.parametrize(
    ("text", "token", "position"),
    [
        ("SECRET//", "//", 6),
        ("SECRET//NOFORN//", "//", 14),
        ("SECRET//NOFORN/", "/", 14),
        ("SECRET//REL TO USA, JPN,", ",", 23),
        ("(S//NF/)", "/", 6),
        ("SECRET//NOFORN/ ", "/", 14),
    ],
)
def test_trailing_separator_is_refused(text: str, token: str, position: int) -> None:
    exc = error(text)
    assert (exc.reason, exc.token, exc.position) == ("trailing separator", token, position)


def test_empty_label_and_empty_portion_are_refused() -> None:
    assert error("").reason == "empty label"
    assert error("   ").reason == "empty label"
    assert error("( )").reason == "empty portion mark"


def test_unbalanced_parentheses_are_refused() -> None:
    assert error("(S//NF").reason == "portion mark without closing parenthesis"
    assert error("S//NF)").reason == "closing parenthesis without opening one"


def test_non_ascii_text_is_refused_at_the_offending_character() -> None:
    exc = error("SECRET//REL TO USA, JPN, KОR")  # Cyrillic O
    assert (exc.position, exc.reason) == (26, "non-ASCII character in label")


def test_second_rel_to_is_refused_not_merged() -> None:
    assert error("S//REL TO USA, JPN/REL TO USA, KOR").reason == "REL TO given twice"
    assert error("S//DISPLAY ONLY AFG/DISPLAY ONLY IRQ").reason == "DISPLAY ONLY given twice"
    assert error("S//USA/JPN EYES/USA/KOR EYES").reason == "EYES ONLY given twice"


def test_second_dissemination_category_is_refused() -> None:
    exc = error("TOP SECRET//ORCON//NOFORN")
    assert token_of(exc) == "NOFORN"
    assert exc.reason.startswith("second dissemination category")


def test_second_tlp_is_refused() -> None:
    assert error("U//TLP:RED//TLP:AMBER").reason == "second TLP category"


def test_country_code_outside_a_list_is_refused() -> None:
    exc = error("S//REL TO USA/JPN")
    assert (exc.token, exc.reason) == ("JPN", "country code outside a REL TO or EYES ONLY list")


def test_unknown_owner_is_refused() -> None:
    exc = error("SECRET//NOFORN", owner="XXX")
    assert (exc.token, exc.reason) == ("XXX", "unknown owner nation")


# --- tetragraphs and nations -------------------------------------------------------------


def test_builtin_tetragraphs_expand_to_their_members() -> None:
    assert TETRAGRAPHS["FVEY"] == {"USA", "AUS", "CAN", "GBR", "NZL"}
    assert TETRAGRAPHS["ACGU"] == {"AUS", "CAN", "GBR", "USA"}
    assert TETRAGRAPHS["TEYE"] <= TETRAGRAPHS["ACGU"]
    assert parse_label("S//REL TO USA, FVEY").releasable_to() == TETRAGRAPHS["FVEY"]


def test_user_tetragraph_is_accepted_when_handed_in() -> None:
    label = parse_label("S//REL TO TRIL, usa", tetragraphs=TRIL)
    assert format_banner(label) == "SECRET//REL TO USA, TRIL"
    assert label.releasable_to(TRIL) == {"USA", "JPN", "KOR"}
    assert label.permits("KOR", TRIL)
    assert not label.permits("KOR")  # without the table the tetragraph names nobody


def test_user_tetragraph_alone_counts_its_nations_for_the_one_nation_rule() -> None:
    assert banner_with("S//REL TO TRIL", TRIL) == "SECRET//REL TO TRIL"
    exc = error("S//REL TO SOLO", tetragraphs={"SOLO": frozenset({"USA"})})
    assert exc.reason == "a tetragraph needs at least two nations"


def banner_with(text: str, table: dict[str, frozenset[str]]) -> str:
    return format_banner(parse_label(text, tetragraphs=table))


@pytest.mark.parametrize(
    ("table", "token", "reason"),
    [
        ({"TR1L": ["USA", "JPN"]}, "TR1L", "a tetragraph is four capital letters A-Z"),
        ({"tril": ["USA", "JPN"]}, "tril", "a tetragraph is four capital letters A-Z"),
        ({"TRILA": ["USA", "JPN"]}, "TRILA", "a tetragraph is four capital letters A-Z"),
        ({"TRIL": ["USA", "JPX"]}, "JPX", "unknown country trigraph in tetragraph"),
        ({"TRIL": ["USA", "FVEY"]}, "FVEY", "unknown country trigraph in tetragraph"),
        ({"TRIL": ["USA"]}, "TRIL", "a tetragraph needs at least two nations"),
        ({"FVEY": ["USA", "JPN"]}, "FVEY", "a built-in tetragraph cannot be redefined"),
    ],
)
def test_bad_user_tetragraphs_are_refused(
    table: dict[str, list[str]], token: str, reason: str
) -> None:
    with pytest.raises(LabelError) as caught:
        check_tetragraphs(table)
    assert (caught.value.token, caught.value.reason) == (token, reason)


def test_check_tetragraphs_merges_the_builtins() -> None:
    merged = check_tetragraphs({"TRIL": ["KOR", "USA", "JPN"], "FVEY": TETRAGRAPHS["FVEY"]})
    assert merged["TRIL"] == {"USA", "JPN", "KOR"}
    assert set(TETRAGRAPHS) <= set(merged)
    assert is_tetragraph("TRIL", merged)
    assert not is_tetragraph("TRIL")


def test_nations_are_iso_alpha3_and_genc_trigraphs() -> None:
    for code in ("USA", "JPN", "KOR", "PRK", "CHN", "RUS", "XKS"):
        assert is_nation(code)
    for code in ("FVEY", "usa", "US", "JPX", ""):
        assert not is_nation(code)


# --- releasability -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "nation", "permitted"),
    [
        ("SECRET//REL TO USA, JPN, KOR", "KOR", True),
        ("SECRET//REL TO USA, JPN", "KOR", False),
        ("SECRET//NOFORN", "JPN", False),
        ("SECRET//NOFORN", "USA", True),  # the owner
        ("SECRET", "JPN", False),  # classified without release marking = NOFORN
        ("SECRET", "USA", True),
        ("SECRET//REL TO USA, FVEY", "NZL", True),
        ("SECRET//REL TO USA, FVEY", "JPN", False),
        ("SECRET//USA/GBR EYES ONLY", "GBR", True),
        ("SECRET//USA/GBR EYES ONLY", "JPN", False),
        ("SECRET//RELIDO", "JPN", False),
        ("SECRET//REL TO USA, JPN/DISPLAY ONLY KOR", "KOR", False),
        ("UNCLASSIFIED", "KOR", True),
        ("UNCLASSIFIED//DISPLAY ONLY KOR", "KOR", False),
        ("UNCLASSIFIED//DISPLAY ONLY KOR", "JPN", True),
        ("UNCLASSIFIED//DISPLAY ONLY FVEY", "NZL", False),
        ("UNCLASSIFIED//FOUO", "KOR", True),
        ("UNCLASSIFIED//NOFORN", "KOR", False),
        ("UNCLASSIFIED//TLP:RED", "KOR", False),
        ("UNCLASSIFIED//TLP:AMBER+STRICT", "KOR", False),
        ("UNCLASSIFIED//TLP:RED", "USA", True),
        ("UNCLASSIFIED//TLP:AMBER", "KOR", True),  # recipients decide, not the label
        ("UNCLASSIFIED//TLP:GREEN", "KOR", True),
        ("SECRET//REL TO USA, JPN//TLP:RED", "JPN", False),
        ("UNCLASSIFIED", "XXX", False),  # unknown nation
        ("UNCLASSIFIED", "FVEY", False),  # a tetragraph is not a nation
    ],
)
def test_label_permits_destination(text: str, nation: str, permitted: bool) -> None:
    assert parse_label(text, owner="USA").permits(nation) is permitted


def test_label_without_owner_permits_only_listed_nations() -> None:
    assert not parse_label("SECRET//NOFORN").permits("USA")
    assert parse_label("SECRET//REL TO USA, JPN").permits("USA")


@pytest.mark.parametrize(
    ("text", "noforn"),
    [
        ("SECRET//NOFORN", True),
        ("SECRET", True),
        ("TOP SECRET//ORCON", True),
        ("SECRET//REL TO USA, JPN", False),
        ("SECRET//USA/JPN EYES ONLY", False),
        ("SECRET//RELIDO", False),
        ("SECRET//DISPLAY ONLY AFG", False),
        ("UNCLASSIFIED", False),
        ("UNCLASSIFIED//NOFORN", True),
    ],
)
def test_noforn_is_explicit_or_classified_without_release_marking(text: str, noforn: bool) -> None:
    assert parse_label(text).noforn is noforn


@pytest.mark.parametrize(
    ("text", "nations"),
    [
        ("UNCLASSIFIED", None),
        ("UNCLASSIFIED//TLP:AMBER", None),
        ("UNCLASSIFIED//TLP:RED", frozenset()),
        ("UNCLASSIFIED//NOFORN", frozenset()),
        ("SECRET", frozenset()),
        ("SECRET//RELIDO", frozenset()),
        ("SECRET//REL TO USA, KOR", frozenset({"USA", "KOR"})),
        ("SECRET//REL TO JPN, ACGU", frozenset({"JPN", "USA", "AUS", "CAN", "GBR"})),
        ("SECRET//JPN/KOR EYES", frozenset({"JPN", "KOR"})),
    ],
)
def test_releasable_to_expands_the_list_or_says_there_is_none(
    text: str, nations: frozenset[str] | None
) -> None:
    assert parse_label(text).releasable_to() == nations


# --- roll-up -------------------------------------------------------------------------------


def test_rollup_intersects_rel_to_lists() -> None:
    assert rolled("(S//REL TO USA, JPN, KOR)", "(C//REL TO USA, KOR)") == (
        "SECRET//REL TO USA, KOR"
    )


def test_rollup_unclassified_portions_do_not_narrow_rel_to() -> None:
    assert rolled("(S//REL TO USA, GBR)", "(U)") == "SECRET//REL TO USA, GBR"
    assert rolled("(S//REL TO USA, GBR)", "(U//REL TO USA, JPN)") == "SECRET//REL TO USA, GBR"


def test_rollup_takes_the_highest_classification() -> None:
    assert rolled("(C//REL TO USA, JPN)", "(TS//REL TO USA, JPN)", "(U)") == (
        "TOP SECRET//REL TO USA, JPN"
    )
    assert rolled("(U)", "(U)") == "UNCLASSIFIED"


def test_rollup_is_noforn_when_any_portion_is_noforn() -> None:
    assert rolled("(S//REL TO USA, JPN)", "(C//NF)") == "SECRET//NOFORN"
    assert rolled("(S//REL TO USA, JPN)", "(U//NF)") == "SECRET//NOFORN"


def test_rollup_is_noforn_when_a_classified_portion_lacks_release_marking() -> None:
    assert rolled("(S//REL TO USA, JPN)", "(C)") == "SECRET//NOFORN"
    assert rolled("(S//REL TO USA, JPN)", "(C//OC)") == "SECRET//ORCON/NOFORN"


def test_rollup_with_fewer_than_two_nations_left_is_noforn() -> None:
    assert rolled("(S//REL TO USA, JPN)", "(S//REL TO USA, KOR)") == "SECRET//NOFORN"
    assert rolled("(S//REL TO JPN, KOR)", "(S//REL TO USA, GBR)") == "SECRET//NOFORN"


def test_rollup_expands_tetragraphs_and_keeps_common_ones() -> None:
    assert rolled("(S//REL TO USA, FVEY)", "(S//REL TO USA, JPN, FVEY)") == (
        "SECRET//REL TO USA, FVEY"
    )
    assert rolled("(S//REL TO USA, FVEY)", "(S//REL TO USA, GBR, JPN)") == (
        "SECRET//REL TO USA, GBR"
    )
    assert rolled("(S//REL TO FVEY)", "(S//REL TO ACGU)") == ("SECRET//REL TO USA, AUS, CAN, GBR")


def test_rollup_expands_user_tetragraphs_when_handed_in() -> None:
    portions = [
        parse_label("(S//REL TO TRIL)", tetragraphs=TRIL),
        parse_label("(S//REL TO USA, KOR, GBR)"),
    ]
    assert format_banner(roll_up(portions, tetragraphs=TRIL)) == "SECRET//REL TO USA, KOR"
    assert format_banner(roll_up(portions)) == "SECRET//NOFORN"  # unknown → fail closed


def test_rollup_unites_other_controls_and_fouo_drops_out_of_classified() -> None:
    assert rolled("(S//REL TO USA, JPN/PR)", "(C//OC/REL TO USA, JPN)", "(U//FOUO)") == (
        "SECRET//ORCON/PROPIN/REL TO USA, JPN"
    )
    assert rolled("(U//FOUO)", "(U)") == "UNCLASSIFIED//FOUO"


def test_rollup_unclassified_lists_narrow_an_unclassified_banner() -> None:
    assert rolled("(U//REL TO USA, JPN, KOR)", "(U//REL TO USA, KOR)", "(U)") == (
        "UNCLASSIFIED//REL TO USA, KOR"
    )


def test_rollup_noforn_drops_relido_and_display_only() -> None:
    assert rolled("(S//REL TO USA, JPN/RELIDO/DISPLAY ONLY KOR)", "(S//NF)") == "SECRET//NOFORN"


def test_rollup_relido_only_portion_narrows_release_to_nobody() -> None:
    assert rolled("(S//REL TO USA, JPN)", "(S//RELIDO)") == "SECRET//NOFORN"
    assert rolled("(S//RELIDO)", "(C//RELIDO)") == "SECRET//RELIDO"


def test_rollup_eyes_only_portion_makes_the_banner_eyes_only() -> None:
    assert rolled("(S//USA/GBR/AUS EYES)", "(S//REL TO USA, GBR, JPN)") == (
        "SECRET//USA/GBR EYES ONLY"
    )


def test_rollup_display_only_keeps_nations_that_may_see_every_portion() -> None:
    assert rolled("(S//REL TO USA, JPN/DISPLAY ONLY KOR, AFG)", "(S//REL TO USA, JPN, KOR)") == (
        "SECRET//REL TO USA, JPN/DISPLAY ONLY KOR"
    )
    assert rolled("(S//REL TO USA, JPN/DISPLAY ONLY KOR)", "(S//REL TO USA, JPN)") == (
        "SECRET//REL TO USA, JPN"
    )


def test_rollup_takes_the_most_restrictive_tlp() -> None:
    assert rolled("(U//TLP:GREEN)", "(U//TLP:RED)", "(U)") == "UNCLASSIFIED//TLP:RED"
    assert rolled("(U//TLP:CLEAR)", "(S//REL TO USA, JPN)") == "SECRET//REL TO USA, JPN"
    assert rolled("(U//TLP:AMBER)", "(S//REL TO USA, JPN)") == (
        "SECRET//REL TO USA, JPN//TLP:AMBER"
    )


def test_rollup_keeps_a_common_owner_and_drops_a_mixed_one() -> None:
    usa = [parse_label("(S//NF)", owner="USA"), parse_label("(U)", owner="USA")]
    assert roll_up(usa).owner == "USA"
    mixed = [parse_label("(S//NF)", owner="USA"), parse_label("(U)", owner="JPN")]
    assert roll_up(mixed).owner is None


def test_rollup_of_nothing_is_refused() -> None:
    with pytest.raises(LabelError, match="nothing to roll up"):
        roll_up([])


def test_rollup_of_one_label_gives_it_back() -> None:
    label = parse_label("SECRET//REL TO USA, JPN, KOR/ORCON")
    assert roll_up([label]) == label


# --- national renderings -------------------------------------------------------------------

KOREAN = {
    Classification.SECRET: "II급 비밀",
    Classification.CONFIDENTIAL: "III급 비밀",
    Classification.UNCLASSIFIED: "일반",
}


def test_render_national_swaps_the_classification_word() -> None:
    label = parse_label("SECRET//REL TO USA, JPN, KOR")
    assert render_national(label, KOREAN) == "II급 비밀//REL TO USA, JPN, KOR"
    assert render_national(parse_label("(U)"), KOREAN) == "일반"


def test_render_national_without_an_equivalent_fails_closed() -> None:
    with pytest.raises(LabelError) as caught:
        render_national(parse_label("TOP SECRET//NOFORN"), KOREAN)
    assert token_of(caught.value) == "TOP SECRET"


def test_control_characters_are_refused() -> None:
    exc = error("SECRET//NOFORN\n")
    assert (exc.position, exc.reason) == (14, "control character in label")
    assert error("TOP\x1cSECRET").reason == "control character in label"
    assert banner("TOP\tSECRET\t//\tNF") == "TOP SECRET//NOFORN"


def test_rollup_unclassified_display_only_nations_are_kept_out_of_rel_to() -> None:
    assert rolled("(U//REL TO USA, JPN, AFG)", "(U//DISPLAY ONLY AFG)") == (
        "UNCLASSIFIED//REL TO USA, JPN/DISPLAY ONLY AFG"
    )
    assert rolled("(U//REL TO USA, FVEY)", "(U//DISPLAY ONLY NZL)") == (
        "UNCLASSIFIED//REL TO USA, AUS, CAN, GBR/DISPLAY ONLY NZL"
    )
    assert rolled("(U)", "(U//DISPLAY ONLY AFG)") == "UNCLASSIFIED//DISPLAY ONLY AFG"


def test_hand_built_label_with_an_unknown_control_is_not_rendered() -> None:
    bogus = Label(Classification.SECRET, dissem=frozenset({"NOFORN", "SECRETIVE"}))
    with pytest.raises(LabelError) as caught:
        format_banner(bogus)
    assert token_of(caught.value) == "SECRETIVE"


def test_overlong_label_is_refused_before_parsing() -> None:
    every_nation = "SECRET//REL TO " + ", ".join(sorted(ISO_ALPHA3))
    assert parse_label(every_nation).permits("ZWE")
    with pytest.raises(LabelError) as caught:
        parse_label("SECRET//NOFORN" + " " * MAX_LABEL_LENGTH)
    assert caught.value.reason == f"label longer than {MAX_LABEL_LENGTH}"
