"""The COP page in a real browser against a real node: what each user sees, live updates,
resumption after a drop, the token's confinement, filters, banners and keyboard use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.web.conftest import RunningNode, Session
from tests.web.scenario import NOFORN, REL_TRILATERAL

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-browser")]

LEVEL_CLASSES = {
    "UNCLASSIFIED": "cls-u",
    "CONFIDENTIAL": "cls-c",
    "SECRET": "cls-s",
    "TOP SECRET": "cls-ts",
}


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _track(callsign: str, label: str, lat: float, lon: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": "track",
        "label": label,
        "topics": ["air.track"],
        "body": {
            "uid": f"test-{uuid.uuid4().hex[:12]}",
            "type": "a-h-A",
            "callsign": callsign,
            "point": {"lat": lat, "lon": lon},
            "time": _time(now),
            "stale": _time(now + timedelta(minutes=30)),
            "heading": 90.0,
        },
    }


def _shows_exactly_what_the_api_returns(session: Session, user: str) -> list[dict[str, Any]]:
    visible = session.node.visible_to(user)
    latest: dict[str, dict[str, Any]] = {}
    others = []
    for item in visible:
        if item["kind"] == "track":
            latest[item["body"]["uid"]] = item  # oldest first: the last is the newest fix
        else:
            others.append(item)
    expected = {item["id"] for item in [*latest.values(), *others]}
    session.wait_for_items(expected)
    assert session.shown_ids() == expected
    markers = session.page.locator(".leaflet-marker-icon svg[data-kind=track]")
    assert markers.count() == len(latest)
    return visible


def _banner(session: Session) -> tuple[str, str]:
    """The banner once the node's roll-up of the labels on screen is drawn, and its classes."""
    page = session.page
    page.wait_for_function(
        "() => document.getElementById('banner-top').dataset.rollup === 'done'", timeout=20_000
    )
    word = page.inner_text("#banner-word")
    classes = page.get_attribute("#banner-top", "class") or ""
    return word, classes


def _labels_on_screen(session: Session) -> list[str]:
    """The distinct labels the banner rolled up (listed in its detail's title)."""
    title = session.page.get_attribute("#banner-detail", "title") or ""
    return [line for line in title.split("\n") if line]


def _rolled_up(node: RunningNode, user: str, labels: list[str]) -> str:
    """The node's own roll-up of *labels*, asked directly of the API."""
    with httpx.Client(base_url=node.url, timeout=10.0) as client:
        response = client.post(
            "/api/v1/labels/rollup", json={"labels": labels}, headers=node.auth(user)
        )
    assert response.status_code == 200, response.text
    banner: str = response.json()["banner"]
    return banner


def _popup_label(session: Session, item_id: str) -> str:
    """Open the item's popup from its map symbol and return the label it shows."""
    page = session.page
    # a click event on the symbol itself: symbols may overlap where events cluster
    page.locator(f".leaflet-marker-icon svg[data-item='{item_id}']").dispatch_event("click")
    popup = page.locator(f".leaflet-popup .pop[data-item='{item_id}']")
    popup.wait_for(timeout=10_000)
    label: str = popup.locator(".mark").first.inner_text()
    return label


def test_national_user_sees_every_item_with_its_label_in_popups(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("duty")
    visible = _shows_exactly_what_the_api_returns(session, "duty")
    assert {item["id"] for item in node.posted[:13]} <= {item["id"] for item in visible}
    tracks = {item["body"]["uid"]: item for item in visible if item["kind"] == "track"}
    for item in tracks.values():
        assert _popup_label(session, item["id"]) == item["label"]
    missile = next(item for item in visible if item["kind"] == "missile_event")
    assert _popup_label(session, missile["id"]) == REL_TRILATERAL
    area = next(item for item in visible if item["body"].get("title") == "Exercise area")
    session.page.click(f"#items .item-row[data-item='{area['id']}']")
    popup = session.page.locator(f".leaflet-popup .pop[data-item='{area['id']}']")
    assert popup.locator(".mark").inner_text() == "CONFIDENTIAL//REL TO USA, JPN, KOR"
    assert "06:00Z to 18:00Z" in popup.inner_text()
    word, classes = _banner(session)
    labels = _labels_on_screen(session)
    shown = session.shown_ids()
    assert set(labels) == {item["label"] for item in visible if item["id"] in shown}
    assert "TOP SECRET//NOFORN" in labels
    assert NOFORN in labels
    # the banner is the node's roll-up: the highest level, and NOFORN since a portion is
    assert word == _rolled_up(node, "duty", labels) == "TOP SECRET//NOFORN"
    assert "cls-ts" in classes
    assert "banner rolled up from" in session.page.inner_text("#banner-detail")
    assert session.problems == []


def test_foreign_liaison_never_sees_a_noforn_item(session: Session, node: RunningNode) -> None:
    session.sign_in("minho")
    visible = _shows_exactly_what_the_api_returns(session, "minho")
    hidden = [item for item in node.posted if "NOFORN" in item["label"]]
    assert hidden, "the scenario holds NOFORN items"
    assert not {item["id"] for item in hidden} & session.shown_ids()
    html = session.page.content()
    assert "NOFORN" not in html
    assert "NOFORN TRACK ALPHA" not in html
    assert "Assessment (national only)" not in html
    for item in visible:
        if item["kind"] in ("track", "missile_event", "zone_entry", "ais_gap"):
            assert _popup_label(session, item["id"]) == item["label"]
    word, classes = _banner(session)
    assert word == _rolled_up(node, "minho", _labels_on_screen(session))
    assert word.startswith("SECRET//")
    assert "cls-s" in classes
    assert session.problems == []


def test_items_posted_after_sign_in_arrive_live_and_noforn_stays_out(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("minho")
    _shows_exactly_what_the_api_returns(session, "minho")
    session.wait_live()
    secret = node.post(_track("LIVE NOFORN", NOFORN, 38.0, 134.0))
    shared = node.post(_track("LIVE SHARED", REL_TRILATERAL, 38.5, 134.5))
    # The stream is in commit order: once the later item is shown, the earlier was handled.
    session.wait_for_items({shared["id"]})
    assert secret["id"] not in session.shown_ids()
    assert "LIVE NOFORN" not in session.page.content()
    assert session.page.locator(f"svg[data-item='{shared['id']}']").count() == 1
    session.wait_live()  # the page follows the stream again after any reload under load


def test_a_track_update_moves_its_marker_instead_of_adding_one(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("duty")
    first = node.post(_track("MOVER", REL_TRILATERAL, 36.0, 135.0))
    session.wait_for_items({first["id"]})
    before = session.page.locator(".leaflet-marker-icon svg[data-kind=track]").count()
    moved = _track("MOVER", REL_TRILATERAL, 36.5, 135.5)
    moved["body"]["uid"] = first["body"]["uid"]
    second = node.post(moved)
    session.wait_for_items({second["id"]})
    assert first["id"] not in session.shown_ids()
    assert session.page.locator(".leaflet-marker-icon svg[data-kind=track]").count() == before


def test_stream_resumes_from_the_last_event_after_the_node_is_killed(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("duty")
    _shows_exactly_what_the_api_returns(session, "duty")
    session.wait_live()
    held: list[Any] = []
    page = session.page
    page.route("**/api/v1/events*", lambda route: held.append(route))
    with page.expect_request(lambda request: "/api/v1/events" in request.url, timeout=20_000):
        node.kill()
    node.start()
    # Committed while the page is disconnected: only a resumed stream can deliver it.
    missed = node.post(_track("WHILE AWAY", REL_TRILATERAL, 37.0, 133.0))
    for _ in range(500):  # each round trip lets Playwright deliver the held route
        if held:
            break
        page.evaluate("() => 0")
    assert len(held) == 1
    reconnect = held[0]
    assert reconnect.request.headers.get("last-event-id")
    assert "authorization" in reconnect.request.headers
    reconnect.continue_()
    page.unroute("**/api/v1/events*")
    session.wait_for_items({missed["id"]}, timeout=20_000)
    session.wait_live()


def test_token_stays_out_of_the_url_the_document_cookies_and_local_storage(
    session: Session, node: RunningNode
) -> None:
    token = node.tokens["duty"]
    session.sign_in("duty")
    _shows_exactly_what_the_api_returns(session, "duty")
    page = session.page
    assert token not in page.url
    assert token not in page.content()
    assert page.input_value("#token") == ""
    assert page.evaluate("() => JSON.stringify({...localStorage})") == "{}"
    assert page.evaluate("() => document.cookie") == ""
    assert page.context.cookies() == []
    assert page.evaluate("() => sessionStorage.getItem('trilat.token')") == token
    api_requests = [r for r in session.requests if "/api/v1/" in r.url]
    assert api_requests
    assert all(token not in request.url for request in session.requests)
    authorised = [r for r in api_requests if "/api/v1/health" not in r.url]
    assert all(r.headers.get("authorization") == f"Bearer {token}" for r in authorised)
    page.click("#sign-out")
    page.wait_for_selector("#sign-in-panel:not([hidden])")
    assert page.evaluate("() => sessionStorage.length") == 0
    assert session.shown_ids() == set()


def test_an_unknown_token_is_refused_and_nothing_is_kept(
    session: Session, node: RunningNode
) -> None:
    page = session.page
    page.goto(node.url + "/")
    page.fill("#token", "trl_" + "x" * 43)
    page.click("#sign-in button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('sign-in-error').textContent.includes('refused')",
        timeout=20_000,
    )
    assert page.evaluate("() => sessionStorage.length") == 0
    assert page.is_hidden("#filters")
    assert session.shown_ids() == set()
    assert page.inner_text("#banner-word") == "NO ITEMS DISPLAYED"


def test_reloading_the_tab_keeps_the_session_and_the_picture(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("minho")
    _shows_exactly_what_the_api_returns(session, "minho")
    session.page.reload()
    session.page.wait_for_selector("#filters:not([hidden])")
    _shows_exactly_what_the_api_returns(session, "minho")


def test_kind_and_topic_filters_hide_items_and_the_banner_follows(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("duty")
    _shows_exactly_what_the_api_returns(session, "duty")
    page = session.page
    page.fill("#topic-filter", "maritime")
    page.uncheck("#kind-track")
    page.wait_for_function(
        "() => { const b = document.getElementById('banner-top');"
        " return b.dataset.level === 'CONFIDENTIAL' && b.dataset.rollup === 'done'; }",
        timeout=20_000,
    )
    kinds = set(
        page.eval_on_selector_all("#items .item-row", "rows => rows.map(r => r.dataset.kind)")
    )
    assert kinds == {"encounter", "loitering", "ais_gap"}
    assert "cls-c" in (page.get_attribute("#banner-top", "class") or "")
    labels = _labels_on_screen(session)
    assert set(labels) == {
        "CONFIDENTIAL//REL TO USA, JPN",
        "CONFIDENTIAL//REL TO USA, KOR",
        "UNCLASSIFIED",
    }
    # REL TO USA, JPN and REL TO USA, KOR leave one nation in common: the banner is NOFORN
    assert page.inner_text("#banner-word") == _rolled_up(node, "duty", labels)
    assert page.inner_text("#banner-word") == "CONFIDENTIAL//NOFORN"
    assert page.locator(".leaflet-marker-icon svg[data-kind=track]").count() == 0
    page.check("#kind-track")
    page.fill("#topic-filter", "")
    page.wait_for_function(
        "() => { const b = document.getElementById('banner-top');"
        " return b.dataset.level === 'TOP SECRET' && b.dataset.rollup === 'done'; }",
        timeout=20_000,
    )
    assert page.inner_text("#banner-word") == "TOP SECRET//NOFORN"


def test_base_map_shows_the_adiz_outlines_and_the_osm_attribution(
    session: Session, node: RunningNode
) -> None:
    page = session.page
    page.goto(node.url + "/")
    page.wait_for_selector("[data-zone='CADIZ']")
    zones = set(page.eval_on_selector_all("[data-zone]", "spans => spans.map(s => s.dataset.zone)"))
    assert zones == {"KADIZ", "JADIZ", "CADIZ"}
    attribution = page.inner_text(".leaflet-control-attribution")
    assert "© OpenStreetMap contributors, ODbL" in attribution
    page.wait_for_function("() => document.querySelector('.leaflet-overlay-pane canvas')")
    assert page.inner_text("#node-name") == "USA node usa-1"
    assert session.problems == []


def _tab_to(page: Any, condition: str, presses: int) -> None:
    """Press Tab until the JavaScript *condition* holds for document.activeElement."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const a = document.activeElement; return !!({condition}); }}"):
            return
    pytest.fail(f"not reachable with {presses} presses of Tab: {condition}")


def test_keyboard_alone_signs_in_and_opens_a_track(session: Session, node: RunningNode) -> None:
    page = session.page
    page.goto(node.url + "/")
    page.wait_for_selector("[data-zone='CADIZ']")
    _tab_to(page, "a.classList.contains('skip-link')", 1)
    _tab_to(page, "a.id === 'token'", 4)
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.type(node.tokens["duty"])
    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-marker-icon svg[data-kind=track]")
    _tab_to(page, "a.id === 'topic-filter'", 20)
    _tab_to(
        page, "a.matches('.leaflet-marker-icon') && a.querySelector('svg[data-kind=track]')", 400
    )
    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-popup .pop .mark")
    assert session.problems == []


def _missile(label: str, missile_type: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": "missile_event",
        "label": label,
        "topics": ["dprk.missile.warning"],
        "body": {
            "launch_time": _time(now - timedelta(minutes=1)),
            "launch_point": {"lat": 40.0, "lon": 127.5},
            "source_sensor": "AN/TPY-2",
            "impact_point": {"lat": 40.5, "lon": 134.0},
            "impact_covariance_m2": [4.0e8, 0.0, 1.0e8],
            "missile_type": missile_type,
        },
    }


def test_a_live_missile_event_raises_the_warning_bar_with_its_label(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("minho")
    _shows_exactly_what_the_api_returns(session, "minho")
    page = session.page
    secret = node.post(_missile(NOFORN, "NATIONAL ONLY"))
    shared = node.post(_missile(REL_TRILATERAL, "KN-25"))
    session.wait_for_items({shared["id"]})
    assert page.is_visible("#alert")
    assert page.inner_text("#alert .mark") == REL_TRILATERAL
    assert "KN-25" in page.inner_text("#alert-text")
    assert secret["id"] not in session.shown_ids()
    assert "NATIONAL ONLY" not in page.content()
    page.click("#alert-show")
    popup = page.locator(f".leaflet-popup .pop[data-item='{shared['id']}']")
    popup.wait_for(timeout=10_000)
    # a covariance gives the 95 % circle: 2.4477 sigma of the larger axis (20 km)
    assert "49.0 km (95 % circle)" in popup.inner_text()
    page.click("#alert-close")
    assert page.is_hidden("#alert")


def test_callsign_labels_name_each_track_and_can_be_switched_off(
    session: Session, node: RunningNode
) -> None:
    session.sign_in("minho")
    visible = _shows_exactly_what_the_api_returns(session, "minho")
    page = session.page
    tracks = {item["body"]["uid"]: item["body"] for item in visible if item["kind"] == "track"}
    labels = page.locator(".leaflet-tooltip.trk-label")
    page.wait_for_function(
        "n => document.querySelectorAll('.leaflet-tooltip.trk-label').length === n",
        arg=len(tracks),
    )
    names = set(labels.all_inner_texts())
    for body in tracks.values():
        mmsi = body["uid"].removeprefix("mmsi-")
        assert body.get("callsign", mmsi) in names
    page.uncheck("#labels")
    labels.first.wait_for(state="detached")
    assert labels.count() == 0


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in rgb[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _contrast(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_banner_colours_follow_us_practice_and_stay_readable(
    session: Session, node: RunningNode
) -> None:
    """Green, blue, red and orange for U, C, S and TS; text contrast of at least WCAG AA."""
    page = session.page
    page.goto(node.url + "/")
    colours = page.evaluate(
        """classes => classes.map(name => {
             const probe = document.createElement('span');
             probe.className = 'mark ' + name;
             probe.textContent = 'X';
             document.body.append(probe);
             const style = getComputedStyle(probe);
             const rgb = text => text.match(/[0-9.]+/g).slice(0, 3).map(Number);
             const found = [rgb(style.backgroundColor), rgb(style.color)];
             probe.remove();
             return found;
           })""",
        list(LEVEL_CLASSES.values()),
    )
    hues = {}
    for word, (background, text) in zip(LEVEL_CLASSES, colours, strict=True):
        assert _contrast(tuple(background), tuple(text)) >= 4.5, word
        hues[word] = _hue(background)
    assert hues == {
        "UNCLASSIFIED": "green",
        "CONFIDENTIAL": "blue",
        "SECRET": "red",
        "TOP SECRET": "orange",
    }


def _hue(rgb: list[float]) -> str:
    red, green, blue = rgb[:3]
    if red > 200 and 100 <= green <= 180 and blue < 60:
        return "orange"
    return max(("red", red), ("green", green), ("blue", blue), key=lambda c: c[1])[0]


def test_a_recalled_item_leaves_the_picture_live(session: Session, node: RunningNode) -> None:
    session.sign_in("minho")
    spilled = node.post(_track("SPILLED", REL_TRILATERAL, 35.5, 133.5))
    session.wait_for_items({spilled["id"]})
    recall = node.post(
        {
            "kind": "recall",
            "label": REL_TRILATERAL,
            "topics": ["air.track"],
            "body": {"item": spilled["id"], "reason": "spillage"},
        }
    )
    session.wait_for_items({recall["id"]})
    assert spilled["id"] not in session.shown_ids()
    assert session.page.locator(f"svg[data-item='{spilled['id']}']").count() == 0
    assert "SPILLED" not in session.page.content()
