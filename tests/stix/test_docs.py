"""docs/stix-marking-extension.md says what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

from trilat.adapters.stix import (
    LABEL_EXTENSION_ID,
    TLP_EXTENSION_ID,
    TLP_MARKING_IDS,
    TRILAT_IDENTITY_ID,
    label_markings,
)
from trilat.core.labels import parse_label

DOC = Path(__file__).resolve().parents[2] / "docs" / "stix-marking-extension.md"


def _examples() -> list[dict[str, object]]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_documented_identifiers_are_the_ones_in_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    for identifier in (LABEL_EXTENSION_ID, TRILAT_IDENTITY_ID, TLP_EXTENSION_ID):
        assert identifier in text
    for tlp, identifier in TLP_MARKING_IDS.items():
        assert f"| `{tlp}` | `{identifier}` |" in text


def test_documented_examples_are_what_the_code_produces() -> None:
    label = parse_label("SECRET//REL TO USA, JPN, KOR//TLP:AMBER", owner="USA")
    label_marking, statement, _ = label_markings(label)
    assert _examples() == [label_marking, statement]
