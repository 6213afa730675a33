"""``trilat export``: each format holds exactly what the user may view, and is audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely.geometry
from defusedxml import ElementTree
from stix2validator import ValidationOptions, validate_instance

from tests.export_cli.conftest import SEES, Populated, trilat
from trilat.cli.export import open_node

KML = "{http://www.opengis.net/kml/2.2}"


def _export(populated: Populated, fmt: str, user: str, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / f"{user}.{fmt}"
    done = trilat("export", fmt, str(populated.directory), "--as", user, "-o", str(out), *extra)
    assert "withheld" in done.stderr
    return out


def _check_rfc7946(document: dict[str, Any]) -> None:
    assert document["type"] == "FeatureCollection"
    assert isinstance(document["features"], list)
    for feature in document["features"]:
        assert feature["type"] == "Feature"
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        if geometry is None:
            continue
        shape = shapely.geometry.shape(geometry)
        assert shape.is_valid, geometry
        west, south, east, north = shape.bounds
        assert -180 <= west <= east <= 180
        assert -90 <= south <= north <= 90


@pytest.mark.parametrize("user", sorted(SEES))
def test_geojson_export_is_rfc7946_and_holds_only_what_the_user_may_view(
    populated: Populated, tmp_path: Path, user: str
) -> None:
    document = json.loads(_export(populated, "geojson", user, tmp_path).read_text())
    _check_rfc7946(document)
    assert {feature["id"] for feature in document["features"]} == populated.expected(user)
    located = [f for f in document["features"] if f["geometry"] is not None]
    assert located, "the tracks and the report carry geometry"


@pytest.mark.parametrize("user", sorted(SEES))
def test_kml_export_parses_safely_and_holds_only_what_the_user_may_view(
    populated: Populated, tmp_path: Path, user: str
) -> None:
    root = ElementTree.fromstring(_export(populated, "kml", user, tmp_path).read_bytes())
    assert root.tag == f"{KML}kml"
    placemarks = root.iter(f"{KML}Placemark")
    ids = {placemark.get("id", "").removeprefix("item-") for placemark in placemarks}
    assert ids == populated.expected(user)


@pytest.mark.parametrize("user", sorted(SEES))
def test_misp_export_is_an_event_of_only_what_the_user_may_view(
    populated: Populated, tmp_path: Path, user: str
) -> None:
    document = json.loads(_export(populated, "misp", user, tmp_path).read_text())
    event = document["Event"]
    assert {"uuid", "info", "date", "Attribute", "Object", "Tag", "distribution"} <= set(event)
    assert event["distribution"] == "0"
    assert user in event["info"]
    elements = event["Attribute"] + event["Object"]
    assert {element["uuid"] for element in elements} == populated.expected(user)
    for element in elements:
        assert any(tag["name"].startswith("trilat:banner=") for tag in element["Tag"])


@pytest.mark.parametrize("user", sorted(SEES))
def test_stix_export_is_a_valid_bundle_of_only_the_indicators_the_user_may_view(
    populated: Populated, tmp_path: Path, user: str
) -> None:
    bundle = json.loads(_export(populated, "stix", user, tmp_path).read_text())
    result = validate_instance(bundle, ValidationOptions(version="2.1", strict=False))
    assert result.is_valid, [str(error) for error in result.errors]
    indicators = [obj for obj in bundle["objects"] if obj["type"] == "indicator"]
    expected = {name for name in SEES[user] if name.startswith("indicator-")}
    assert len(indicators) == len(expected)
    definitions = {obj["id"] for obj in bundle["objects"] if obj["type"] == "marking-definition"}
    for indicator in indicators:
        assert set(indicator["object_marking_refs"]) <= definitions


def test_a_foreign_user_gets_fewer_items_and_each_export_is_one_audit_leaf(
    populated: Populated, tmp_path: Path
) -> None:
    node = open_node(populated.directory)
    try:
        before = node.store.audit_size()
    finally:
        node.store.close()
    _export(populated, "geojson", "minho", tmp_path, "--kind", "track")
    _export(populated, "geojson", "admin", tmp_path, "--topic", "maritime")
    node = open_node(populated.directory)
    try:
        leaves = node.store.audit_leaves(before, node.store.audit_size())
    finally:
        node.store.close()
    assert [leaf.event for leaf in leaves] == ["release", "release"]
    minho, admin = (json.loads(leaf.data) for leaf in leaves)
    assert minho["actor"] == "minho"
    assert minho["exported"] == 1  # the public track
    assert minho["withheld"] == 1  # the REL TO USA, JPN track
    assert minho["format"] == "geojson"
    assert minho["kind"] == "track"
    assert admin["exported"] == 3
    assert admin["withheld"] == 0
    assert admin["topic"] == "maritime"


def test_filters_narrow_the_export(populated: Populated, tmp_path: Path) -> None:
    document = json.loads(
        _export(populated, "geojson", "admin", tmp_path, "--topic", "cyber").read_text()
    )
    assert {f["properties"]["kind"] for f in document["features"]} == {"indicator"}
    later = _export(populated, "geojson", "admin", tmp_path, "--since", "2999-01-01T00:00:00Z")
    assert json.loads(later.read_text())["features"] == []


def test_export_to_standard_output(populated: Populated) -> None:
    done = trilat("export", "geojson", str(populated.directory), "--as", "kenji")
    assert {f["id"] for f in json.loads(done.stdout)["features"]} == populated.expected("kenji")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("geojson", "--as", "nobody"), "no user 'nobody'"),
        (("geojson", "--as", "admin", "--since", "yesterday"), "--since"),
        (("kml", "--as", "admin", "--kind", "spaceship"), "--kind"),
        (("geojson", "--as", "admin", "--topic", "Not A Topic"), "--topic"),
        (("stix", "--as", "admin", "--kind", "track"), "only indicator"),
    ],
)
def test_bad_export_arguments_exit_2_with_one_line(
    populated: Populated, args: tuple[str, ...], fragment: str
) -> None:
    fmt, *rest = args
    done = trilat("export", fmt, str(populated.directory), *rest, check=False)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr


def test_a_misp_export_with_nothing_visible_fails_without_writing(
    populated: Populated, tmp_path: Path
) -> None:
    out = tmp_path / "empty.json"
    args = ("export", "misp", str(populated.directory), "--as", "minho", "--kind", "report")
    done = trilat(*args, "-o", str(out), check=False)
    assert done.returncode == 1
    assert "nothing to export" in done.stderr
    assert not out.exists()
