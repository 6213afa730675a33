"""GET /api/v1/audit/proof/{leaf} from stored subtree hashes, at many tree sizes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from tests.api.conftest import NodeUnderTest, TestClient, assert_problem
from trilat.core.audit import root_of, verify_inclusion
from trilat.store.auditlog import audit_entry

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_proofs_verify_at_every_size_and_index_of_a_growing_log(
    client: TestClient, usa: NodeUnderTest
) -> None:
    store = usa.node.store
    store.append_audit([audit_entry("view", at=T0, actor=f"u{n}") for n in range(70)])
    hashes = [leaf.leaf_hash for leaf in store.audit_leaves(0, 70)]
    for size in (1, 2, 3, 5, 8, 13, 16, 31, 32, 33, 64, 70):
        root = root_of(hashes[:size])
        for index in sorted({0, 1 % size, size // 3, size - 1}):
            response = client.get(
                f"/api/v1/audit/proof/{index}", params={"size": size}, headers=usa.auth("admin")
            )
            assert response.status_code == 200, response.text
            proof = response.json()
            assert base64.b64decode(proof["root"]) == root
            assert base64.b64decode(proof["leaf_hash"]) == hashes[index]
            verify_inclusion(
                index,
                size,
                hashes[index],
                [base64.b64decode(h) for h in proof["proof"]],
                root,
            )
    assert_problem(
        client.get("/api/v1/audit/proof/70", params={"size": 70}, headers=usa.auth("admin")), 404
    )
    assert_problem(
        client.get("/api/v1/audit/proof/0", params={"size": 71}, headers=usa.auth("admin")), 404
    )
