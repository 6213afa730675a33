"""POST /api/v1/labels/rollup: the banner that covers a set of labels (SPEC §2)."""

from __future__ import annotations

import pytest

from tests.api.conftest import NodeUnderTest, TestClient, assert_problem
from trilat.api.schemas import MAX_ROLLUP_LABELS

ROLLUP = "/api/v1/labels/rollup"


@pytest.mark.parametrize(
    ("labels", "banner", "portion"),
    [
        (
            ["SECRET//REL TO USA, JPN, KOR", "CONFIDENTIAL//REL TO USA, KOR"],
            "SECRET//REL TO USA, KOR",
            "(S//REL TO USA, KOR)",
        ),
        (["SECRET//REL TO USA, JPN", "SECRET//REL TO USA, KOR"], "SECRET//NOFORN", "(S//NF)"),
        (
            ["UNCLASSIFIED", "(C//REL TO USA, JPN)"],
            "CONFIDENTIAL//REL TO USA, JPN",
            "(C//REL TO USA, JPN)",
        ),
        (["UNCLASSIFIED"], "UNCLASSIFIED", "(U)"),
        (
            ["TOP SECRET//REL TO USA, JPN", "(U//FOUO)"],
            "TOP SECRET//REL TO USA, JPN",
            "(TS//REL TO USA, JPN)",
        ),
    ],
)
def test_labels_roll_up_to_the_covering_banner(
    client: TestClient, usa: NodeUnderTest, labels: list[str], banner: str, portion: str
) -> None:
    response = client.post(ROLLUP, json={"labels": labels}, headers=usa.auth("kenji"))
    assert response.status_code == 200, response.text
    assert response.json() == {"banner": banner, "portion": portion}


def test_a_bad_label_is_named_by_its_place_in_the_list(
    client: TestClient, usa: NodeUnderTest
) -> None:
    response = client.post(
        ROLLUP,
        json={"labels": ["SECRET//REL TO USA, JPN", "SECRET//REL TO USA, ATLANTIS"]},
        headers=usa.auth("analyst"),
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/label-invalid"
    assert problem["detail"].startswith("labels[1]: ")
    assert problem["label"] == 1
    assert problem["token"] == "ATLANTIS"  # noqa: S105 - a label token, not a secret


def test_the_list_is_bounded_and_not_empty_and_needs_a_token(
    client: TestClient, usa: NodeUnderTest
) -> None:
    assert_problem(client.post(ROLLUP, json={"labels": []}, headers=usa.auth("analyst")), 422)
    too_many = {"labels": ["UNCLASSIFIED"] * (MAX_ROLLUP_LABELS + 1)}
    assert_problem(client.post(ROLLUP, json=too_many, headers=usa.auth("analyst")), 422)
    assert_problem(client.post(ROLLUP, json={"labels": ["UNCLASSIFIED"]}), 401)
