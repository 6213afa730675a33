"""TAXII error messages: every refusal is TAXII-shaped JSON, and nothing is stored half-way."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.taxii.conftest import TaxiiNode, envelope_of, indicator, marked
from trilat.adapters.stix import label_markings, mark
from trilat.api.taxii import TAXII_MEDIA_TYPE
from trilat.core.labels import parse_label

TAXII_ERROR_KEYS = {"title", "description", "http_status", "error_id", "error_code"}


def assert_taxii_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one check of the TAXII 2.1 error-message shape, used for every refusal."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    document = response.json()
    assert set(document) >= TAXII_ERROR_KEYS, document
    assert document["http_status"] == str(status)
    assert document["title"]
    assert document["description"]
    return document


def _post(taxii: TaxiiNode, body: bytes, user: str = "admin", **headers: str) -> httpx.Response:
    sent = {**taxii.headers(user), "Content-Type": TAXII_MEDIA_TYPE, **headers}
    return httpx.post(taxii.collection_url() + "objects/", content=body, headers=sent)


def _stored(taxii: TaxiiNode) -> int:
    return len(taxii.made.node.store.read_after(0, 10_000))


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("added_after=yesterday", "added_after"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("next=AAAAAAAAAAE", "next"),
        ("match[colour]=red", "match[colour]"),
        ("match[version]=latest", "match[version]"),
    ],
)
def test_bad_query_parameters_get_a_taxii_400(taxii: TaxiiNode, query: str, fragment: str) -> None:
    response = httpx.get(
        f"{taxii.collection_url()}objects/?{query}", headers=taxii.headers("admin")
    )
    assert fragment in assert_taxii_error(response, 400)["description"]


def test_a_tampered_or_foreign_next_token_is_refused(taxii: TaxiiNode) -> None:
    envelope = envelope_of([marked(indicator(n), "green") for n in range(3)])
    assert _post(taxii, json.dumps(envelope).encode()).status_code == 202
    url = taxii.collection_url() + "objects/"
    token = httpx.get(url + "?limit=1", headers=taxii.headers("admin")).json()["next"]
    cursor, _, mark = token.partition(".")
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[7] ^= 1  # point at another row
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + mark
    assert_taxii_error(httpx.get(url, params={"next": forged}, headers=taxii.headers("admin")), 400)
    other_query = {"next": token, "match[type]": "indicator"}
    assert_taxii_error(httpx.get(url, params=other_query, headers=taxii.headers("admin")), 400)
    manifest = taxii.collection_url() + "manifest/"
    assert httpx.get(manifest, params={"next": token}, headers=taxii.headers("admin")).is_success


def test_unknown_collection_object_and_path_are_taxii_404s(taxii: TaxiiNode) -> None:
    headers = taxii.headers("admin")
    assert_taxii_error(httpx.get(f"{taxii.root}collections/nope/objects/", headers=headers), 404)
    missing = f"{taxii.collection_url()}objects/indicator--00000000-0000-4000-8000-000000000000/"
    assert_taxii_error(httpx.get(missing, headers=headers), 404)
    assert_taxii_error(httpx.get(missing + "versions/", headers=headers), 404)
    assert_taxii_error(httpx.get(f"{taxii.root}status/not-a-uuid/", headers=headers), 404)
    assert_taxii_error(httpx.get(f"{taxii.root}nothing/here/", headers=headers), 404)


def test_an_object_hidden_from_a_user_is_absent_not_forbidden(taxii: TaxiiNode) -> None:
    obj, definitions = marked(indicator(1), "noforn")
    assert _post(taxii, json.dumps(envelope_of([(obj, definitions)])).encode()).status_code == 202
    url = f"{taxii.collection_url()}objects/{obj['id']}/"
    assert httpx.get(url, headers=taxii.headers("admin")).status_code == 200
    assert_taxii_error(httpx.get(url, headers=taxii.headers("kenji")), 404)
    assert_taxii_error(httpx.get(url + "versions/", headers=taxii.headers("kenji")), 404)


def test_missing_or_wrong_credentials_are_401_with_a_challenge(taxii: TaxiiNode) -> None:
    url = taxii.root + "collections/"
    accept = {"Accept": TAXII_MEDIA_TYPE}
    response = httpx.get(url, headers=accept)
    assert_taxii_error(response, 401)
    assert "Basic" in response.headers["www-authenticate"]
    assert_taxii_error(httpx.get(url, headers={**accept, "Authorization": "Bearer nope"}), 401)
    _, token = taxii.credentials("kenji")
    wrong_name = httpx.get(url, headers=accept, auth=("admin", token))
    assert_taxii_error(wrong_name, 401)


def test_wrong_media_types_are_406_and_415(taxii: TaxiiNode) -> None:
    headers = {**taxii.headers("admin"), "Accept": "application/json"}
    assert_taxii_error(httpx.get(taxii.root, headers=headers), 406)
    old = {**taxii.headers("admin"), "Accept": "application/taxii+json;version=2.0"}
    assert_taxii_error(httpx.get(taxii.root, headers=old), 406)
    body = json.dumps(envelope_of([marked(indicator(1), "green")])).encode()
    assert_taxii_error(_post(taxii, body, **{"Content-Type": "application/json"}), 415)
    assert _stored(taxii) == 0


def test_invalid_envelopes_are_refused_whole(taxii: TaxiiNode) -> None:
    assert_taxii_error(_post(taxii, b"{not json"), 400)
    assert_taxii_error(_post(taxii, b'{"objects": {}}'), 422)
    assert_taxii_error(_post(taxii, b'{"objects": []}'), 422)
    assert_taxii_error(_post(taxii, b'{"objects": [], "extra": 1}'), 422)
    assert _stored(taxii) == 0


def test_an_oversized_envelope_is_413_and_stores_nothing(taxii: TaxiiNode) -> None:
    limit = taxii.made.node.body_limit
    objects = [marked(indicator(n), "green") for n in range(2000)]
    body = json.dumps(envelope_of(objects)).encode()
    assert len(body) > limit
    assert "max_content_length" in assert_taxii_error(_post(taxii, body), 413)["description"]

    def chunks() -> Any:  # no declared length: the limit is enforced while reading
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = httpx.post(
        taxii.collection_url() + "objects/",
        content=chunks(),
        headers={**taxii.headers("admin"), "Content-Type": TAXII_MEDIA_TYPE},
    )
    assert_taxii_error(streamed, 413)
    assert _stored(taxii) == 0


def test_users_who_may_not_originate_cannot_add(taxii: TaxiiNode) -> None:
    body = json.dumps(envelope_of([marked(indicator(1), "green")])).encode()
    assert_taxii_error(_post(taxii, body, user="kenji"), 403)
    assert_taxii_error(_post(taxii, body, user="citizen"), 403)
    assert _stored(taxii) == 0


def test_a_user_not_cleared_for_a_label_gets_a_per_object_failure(taxii: TaxiiNode) -> None:
    label = parse_label("TOP SECRET//NOFORN", owner="USA")
    too_high = mark(indicator(1), label)
    green, green_definitions = marked(indicator(2), "green")
    objects = [too_high, *label_markings(label), green, *green_definitions]
    response = _post(taxii, json.dumps({"objects": objects}).encode(), user="analyst")
    assert response.status_code == 202
    status = response.json()
    assert [failure["id"] for failure in status["failures"]] == [too_high["id"]]
    assert "not cleared" in status["failures"][0]["message"]
    assert _stored(taxii) == 1
