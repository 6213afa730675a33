"""``trilat policy explain``, ``trilat agreements …`` and ``trilat demo`` (SPEC §9)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tests.core.policy_support import FIXTURE_AGREEMENTS
from trilat.cli.app import app

runner = CliRunner()
TRILAT = Path(sys.executable).with_name("trilat")
REPORT = [
    "--label",
    "SECRET//REL TO USA, JPN, KOR",
    "--topic",
    "dprk.missile",
    "--originator",
    "JPN",
]


def explain(*args: str) -> tuple[int, dict[str, object], str]:
    result = runner.invoke(app, ["policy", "explain", *REPORT, *args, "--json"])
    document = json.loads(result.stdout) if result.exit_code == 0 else {}
    return result.exit_code, document, result.stderr


def test_explain_direct_gsomia_release_in_2017() -> None:
    code, decision, _ = explain("--holder", "JPN", "--to", "KOR", "--at", "2017-03-01")
    assert code == 0
    assert decision["decision"] == "allow"
    assert decision["agreement"] == "GSOMIA-JPN-KOR-2016"
    assert decision["route"] == ["JPN", "KOR"]


def test_explain_denial_exits_zero_and_names_the_hub_route() -> None:
    code, decision, _ = explain("--holder", "JPN", "--to", "KOR", "--at", "2015-06-01")
    assert code == 0
    assert decision["decision"] == "deny"
    reasons = " ".join(decision["reasons"])  # type: ignore[arg-type]
    assert "TISA-2014" in reasons
    assert "USA" in reasons
    assert "consent" in reasons


def test_explain_hub_relay_needs_and_then_has_consent() -> None:
    code, denied, _ = explain("--holder", "USA", "--to", "KOR", "--at", "2015-06-01")
    assert code == 0
    assert denied["decision"] == "deny"
    assert "originator-consent" in denied["requires"]  # type: ignore[operator]
    code, allowed, _ = explain("--holder", "USA", "--to", "KOR", "--at", "2015-06-01", "--consent")
    assert code == 0
    assert allowed["decision"] == "allow"
    assert allowed["agreement"] == "TISA-2014"
    assert allowed["route"] == ["JPN", "USA", "KOR"]


def test_explain_json_has_the_stable_keys() -> None:
    _, decision, _ = explain("--holder", "JPN", "--to", "KOR", "--at", "2019-09-01")
    assert set(decision) == {
        "decision", "agreement", "route", "requires", "reasons", "rule", "warnings",
        "label", "at",
    }  # fmt: skip
    assert decision["at"] == "2019-09-01T00:00:00Z"
    assert any("2019-08-23" in w for w in decision["warnings"])  # type: ignore[attr-defined]


def test_explain_disclosure_flag_releases_relido() -> None:
    args = ["--label", "SECRET//REL TO USA, JPN/RELIDO", "--topic", "cyber", "--originator"]
    base = [*args, "USA", "--holder", "USA", "--to", "JPN", "--at", "2020-01-01", "--json"]
    denied = runner.invoke(app, ["policy", "explain", *base])
    assert json.loads(denied.stdout)["requires"] == ["disclosure-officer"]
    allowed = runner.invoke(app, ["policy", "explain", *base, "--disclosure"])
    assert json.loads(allowed.stdout)["decision"] == "allow"


def test_explain_human_output_shows_decision_and_reason() -> None:
    result = runner.invoke(
        app, ["policy", "explain", *REPORT, "--holder", "JPN", "--to", "KOR", "--at", "2017-03-01"]
    )
    assert result.exit_code == 0
    assert "ALLOW" in result.stdout
    assert "GSOMIA-JPN-KOR-2016" in result.stdout


def test_explain_bad_inputs_exit_2_naming_the_token() -> None:
    cases = {
        ("--label", "SECRET//REL TO USA, JPX"): "JPX",
        ("--at", "2015-13-01"): "2015-13-01",
        ("--to", "XXX"): "XXX",
        ("--holder", "Japan"): "Japan",
        ("--topic", "DPRK Missile"): "DPRK Missile",
    }
    for (option, value), token in cases.items():
        args = {"--label": "SECRET//REL TO USA, JPN, KOR", "--topic": "dprk.missile"}
        args.update({"--originator": "JPN", "--holder": "USA", "--to": "KOR"})
        args[option] = value
        flat = [part for pair in args.items() for part in pair]
        result = runner.invoke(app, ["policy", "explain", *flat])
        assert result.exit_code == 2, (option, result.stdout)
        assert token in result.stderr, result.stderr


def test_explain_with_unreadable_agreements_fails_closed_and_says_why(tmp_path: Path) -> None:
    code, decision, stderr = explain(
        "--holder", "JPN", "--to", "KOR", "--at", "2017-03-01", "--agreements", str(tmp_path)
    )
    assert code == 0
    assert decision["decision"] == "deny"
    assert "no *.toml agreement files" in decision["reasons"][0]  # type: ignore[index]
    assert "every classified decision will deny" in stderr


def test_explain_with_a_custom_agreements_directory() -> None:
    result = runner.invoke(
        app,
        [
            "policy", "explain", "--label", "SECRET//REL TO USA, GBR", "--topic",
            "maritime.track", "--originator", "USA", "--holder", "USA", "--to", "GBR",
            "--at", "2020-04-01", "--agreements", str(FIXTURE_AGREEMENTS), "--json",
        ],
    )  # fmt: skip
    decision = json.loads(result.stdout)
    assert decision["decision"] == "deny"
    assert "suspended" in " ".join(decision["reasons"])


def test_agreements_list_json_lists_the_shipped_set_with_status() -> None:
    result = runner.invoke(app, ["agreements", "list", "--json", "--at", "2015-06-01"])
    assert result.exit_code == 0
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {
        "GSOMIA-JPN-KOR-2016",
        "GSOMIA-USA-JPN-2007",
        "GSOMIA-USA-KOR-1987",
        "MWDS-2023",
        "TISA-2014",
    }
    assert rows["TISA-2014"]["in_force"] is True
    assert rows["GSOMIA-JPN-KOR-2016"]["in_force"] is False


def test_agreements_list_table_names_each_agreement() -> None:
    result = runner.invoke(app, ["agreements", "list"])
    assert result.exit_code == 0
    assert "TISA-2014" in result.stdout


def test_agreements_show_gives_notices_markings_and_source() -> None:
    result = runner.invoke(
        app, ["agreements", "show", "GSOMIA-JPN-KOR-2016", "--json", "--at", "2019-09-01"]
    )
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["in_force"] is True
    assert "군사 II급비밀" in shown["markings"]["KOR"].values()
    assert shown["notices"][0]["from"] == "2019-08-23"
    assert any("termination" in w for w in shown["warnings"])
    assert "2016-11-23" in shown["source"]


def test_agreements_show_unknown_id_exits_2() -> None:
    result = runner.invoke(app, ["agreements", "show", "NOPE-1"])
    assert result.exit_code == 2
    assert "NOPE-1" in result.stderr


def test_agreements_validate_accepts_shipped_and_fixture_sets() -> None:
    assert runner.invoke(app, ["agreements", "validate"]).exit_code == 0
    result = runner.invoke(app, ["agreements", "validate", str(FIXTURE_AGREEMENTS), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["valid"] is True


def test_agreements_validate_lists_every_bad_file_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('id = "A"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text("not toml at all = = =\n", encoding="utf-8")
    result = runner.invoke(app, ["agreements", "validate", str(tmp_path), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [e["source"] for e in report["errors"]] == ["a.toml", "b.toml"]


def test_agreements_list_on_a_bad_directory_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agreements", "list", "--agreements", str(tmp_path / "no")])
    assert result.exit_code == 1
    assert "not a readable directory" in result.stderr


def test_demo_walkthrough_runs_as_the_installed_command_and_prints_the_key_decisions() -> None:
    completed = subprocess.run(
        [str(TRILAT), "demo", "--walkthrough"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "NO_COLOR": "1", "PATH": str(TRILAT.parent)},
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    for expected in (
        "ALLOW  TISA-2014  route JPN → USA → KOR",
        "requires originator-consent",
        "TISA-2014 never allows direct exchange between its non-hub parties JPN and KOR",
        "ALLOW  GSOMIA-JPN-KOR-2016  route JPN → KOR",
        "notice of termination on 2019-08-23",
        "SECRET//NOFORN does not release to USA",
        "ALLOW  MWDS-2023  route JPN → USA → KOR",
        "(audit-view)",
    ):
        assert expected in out, expected
