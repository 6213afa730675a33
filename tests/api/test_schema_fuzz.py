"""Property-based run of the served OpenAPI document (schemathesis): whatever a client
sends, the node never answers 5xx and every error is RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import PROBLEM_KEYS, NodeUnderTest, TestClient
from trilat.api.app import create_app

EXAMPLES_PER_OPERATION = 30


def seed(client: TestClient, usa: NodeUnderTest) -> None:
    """A few real items, so that reads and consents meet stored rows."""
    for label in ("SECRET//REL TO USA, JPN, KOR", "SECRET//DISPLAY ONLY JPN", "UNCLASSIFIED"):
        response = client.post(
            "/api/v1/items",
            json={
                "kind": "report",
                "label": label,
                "topics": ["dprk.missile"],
                "body": {"text": label},
            },
            headers=usa.auth("admin"),
        )
        assert response.status_code == 201


def test_no_input_makes_the_api_fail_and_every_error_is_a_problem(
    client: TestClient, usa: NodeUnderTest
) -> None:
    seed(client, usa)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(usa.node))
    schema = schema.exclude(path="/api/v1/events")  # an endless stream, tested on its own
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /api/v1/items", "GET /api/v1/items"} <= {o.label for o in operations}
    seen: dict[str, set[int]] = {}

    for operation in operations:
        strategy = operation.as_strategy()
        examples = operation.get_strategies_from_examples()
        if examples:
            strategy = strategy | examples[0]

        label = operation.label

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            for who in ("admin", "kenji"):
                response = case.call(headers={**(case.headers or {}), **usa.auth(who)})
                status = response.status_code
                seen.setdefault(label, set()).add(status)  # noqa: B023 - called in this iteration
                assert status < 500, (case.method, case.formatted_path, response.text)
                if status >= 400:
                    assert response.headers["content-type"][0].startswith(
                        "application/problem+json"
                    )
                    assert PROBLEM_KEYS <= set(response.json())

        exercise()
    assert all(seen.values())
    assert 201 in seen["POST /api/v1/items"]
