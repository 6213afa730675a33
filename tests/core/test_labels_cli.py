"""``trilat label check|rollup`` (SPEC §9): in process with CliRunner, and once for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from trilat.cli.app import app

runner = CliRunner()
TRILAT = Path(sys.executable).with_name("trilat")


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["label", *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_prints_the_canonical_banner() -> None:
    assert run("check", "secret//rel to kor, usa, jpn") == (
        0,
        "SECRET//REL TO USA, JPN, KOR\n",
        "",
    )


def test_check_expands_portion_abbreviations() -> None:
    code, out, _ = run("check", "(S//NF)")
    assert (code, out) == (0, "SECRET//NOFORN\n")


def test_check_json_gives_the_spec_keys() -> None:
    code, out, _ = run("check", "(S//NF)", "--json")
    assert code == 0
    assert json.loads(out) == {
        "canonical": "SECRET//NOFORN",
        "portion": "(S//NF)",
        "classification": "SECRET",
        "rel_to": [],
        "dissem": ["NOFORN"],
        "tlp": None,
    }


def test_check_json_lists_rel_to_in_order_and_the_other_markings() -> None:
    code, out, _ = run("check", "--json", "ts//oc/rel to kor, usa/display only afg//tlp:green")
    assert code == 0
    assert json.loads(out) == {
        "canonical": "TOP SECRET//ORCON/REL TO USA, KOR/DISPLAY ONLY AFG//TLP:GREEN",
        "portion": "(TS//OC/REL TO USA, KOR/DISPLAY ONLY AFG//TLP:GREEN)",
        "classification": "TOP SECRET",
        "rel_to": ["USA", "KOR"],
        "dissem": ["ORCON", "DISPLAY ONLY AFG"],
        "tlp": "TLP:GREEN",
    }


def test_check_rel_to_one_country_exits_2_saying_use_noforn() -> None:
    code, out, err = run("check", "SECRET//REL TO USA")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "REL TO needs more than one country (use NOFORN)" in err
    assert "'REL TO USA' at offset 8" in err


def test_check_unknown_country_exits_2_naming_the_token() -> None:
    code, _, err = run("check", "SECRET//REL TO USA, JPX")
    assert code == 2
    assert "unknown country trigraph: 'JPX' at offset 20" in err


def test_check_accepts_a_user_tetragraph_option() -> None:
    code, out, _ = run("check", "S//REL TO TRIL", "--tetragraph", "TRIL=usa, jpn, kor")
    assert (code, out) == (0, "SECRET//REL TO TRIL\n")
    code, _, err = run("check", "S//REL TO TRIL", "--tetragraph", "TRIL")
    assert code == 2
    assert "expected CODE=NAT,NAT" in err
    code, _, err = run("check", "S//REL TO TRIL", "--tetragraph", "TRIL=USA,JPX")
    assert code == 2
    assert "'JPX'" in err


def test_rollup_intersects_rel_to() -> None:
    code, out, _ = run("rollup", "(S//REL TO USA, JPN, KOR)", "(C//REL TO USA, KOR)")
    assert (code, out) == (0, "SECRET//REL TO USA, KOR\n")


def test_rollup_unclassified_portion_does_not_narrow() -> None:
    code, out, _ = run("rollup", "(S//REL TO USA, GBR)", "(U)")
    assert (code, out) == (0, "SECRET//REL TO USA, GBR\n")


def test_rollup_json_describes_the_rolled_up_banner() -> None:
    code, out, _ = run("rollup", "--json", "(S//REL TO USA, JPN)", "(C//NF)")
    assert code == 0
    assert json.loads(out)["canonical"] == "SECRET//NOFORN"
    assert json.loads(out)["portion"] == "(S//NF)"


def test_rollup_with_an_illegal_portion_exits_2() -> None:
    code, out, err = run("rollup", "(S//REL TO USA, GBR)", "(U//OC)")
    assert (code, out) == (2, "")
    assert "ORCON is not used on UNCLASSIFIED: 'OC'" in err


def test_real_process_prints_banner_and_exits_2_on_bad_input() -> None:
    good = subprocess.run(
        [str(TRILAT), "label", "check", "(S//NF)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (good.returncode, good.stdout) == (0, "SECRET//NOFORN\n")
    bad = subprocess.run(
        [str(TRILAT), "label", "check", "SECRET//REL TO USA"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "use NOFORN" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = subprocess.run(
        [str(TRILAT), "label", "rollup"], capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
