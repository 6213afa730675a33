"""The page, its map library and the base-map geodata as every node serves them (no browser)."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    # starlette asks for its httpx2 fork; the pinned httpx drives the ASGI app just as well
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from trilat.agreement_files import load_policy
from trilat.api.app import create_app
from trilat.api.node import Node
from trilat.api.web import CONTENT_SECURITY_POLICY, GEO_DIR, LEAFLET_DIR, WEB_DIR
from trilat.core._crypto import generate_private_key
from trilat.store import open_store


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("web-routes") / "store.sqlite3"
    store = open_store(f"sqlite:///{path}")
    node = Node(
        nation="USA",
        node_id="usa-1",
        store=store,
        policy=load_policy(),
        private_key=generate_private_key(),
    )
    try:
        with TestClient(create_app(node)) as test_client:
            yield test_client
    finally:
        store.close()


def test_page_is_served_at_the_root_under_a_strict_content_security_policy(
    client: TestClient,
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "Bearer token" in response.text


def test_page_loads_nothing_from_another_origin_and_runs_no_inline_script() -> None:
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html) == []
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert " style=" not in html
    script = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    assert ".innerHTML" not in script
    assert "insertAdjacentHTML" not in script


@pytest.mark.parametrize(
    ("path", "media_type"),
    [("/app.js", "text/javascript; charset=utf-8"), ("/style.css", "text/css; charset=utf-8")],
)
def test_script_and_style_sheet_are_served_with_their_types(
    client: TestClient, path: str, media_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (WEB_DIR / path.lstrip("/")).read_bytes()


def test_geodata_is_the_shipped_file_compressed_when_the_client_accepts_gzip(
    client: TestClient,
) -> None:
    shipped = (GEO_DIR / "adiz.geojson").read_bytes()
    plain = client.get("/geo/adiz.geojson", headers={"accept-encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/geo+json"
    assert "content-encoding" not in plain.headers
    assert plain.content == shipped
    zones = {feature["properties"]["id"] for feature in json.loads(plain.content)["features"]}
    assert zones == {"KADIZ", "JADIZ", "CADIZ"}
    packed = client.get("/geo/territory-ne-asia.geojson", headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    raw = packed.content  # httpx has already inflated it; compare with the shipped bytes
    assert raw == (GEO_DIR / "territory-ne-asia.geojson").read_bytes()
    assert int(packed.headers["content-length"]) < len(raw) / 2


def test_geodata_answers_not_modified_to_a_matching_entity_tag(client: TestClient) -> None:
    first = client.get("/geo/features.geojson")
    again = client.get("/geo/features.geojson", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/geo/NOTICE.md",
        "/geo/..%2Fgeo%2Fadiz.geojson",
        "/geo/../../pyproject.toml",
        "/index.html.bak",
        "/package.json",
        "/vendor/leaflet/../../package-lock.json",
        "/node_modules/leaflet/package.json",
    ],
)
def test_nothing_outside_the_page_and_the_named_geodata_is_served(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_map_library_is_served_from_the_pinned_npm_install(client: TestClient) -> None:
    if not (LEAFLET_DIR / "leaflet.js").is_file():
        pytest.skip("the map library is not installed (make web)")
    lock = json.loads((WEB_DIR / "package-lock.json").read_text(encoding="utf-8"))
    installed = json.loads((LEAFLET_DIR.parent / "package.json").read_text(encoding="utf-8"))
    assert installed["version"] == lock["packages"]["node_modules/leaflet"]["version"]
    script = client.get("/vendor/leaflet/leaflet.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/vendor/leaflet/leaflet.css").status_code == 200


def test_page_routes_stay_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert all(path.startswith("/api/v1/") for path in paths)
