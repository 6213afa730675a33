"""The common operating picture page that every node serves, and the geodata it draws.

``mount_web(app)`` adds, outside the REST API and its OpenAPI schema:

* ``GET /`` — the page (``src/trilat/web/index.html``), with ``/app.js`` and ``/style.css``;
* ``GET /vendor/leaflet/…`` — the map library as ``npm ci`` installed it under
  ``src/trilat/web/node_modules/leaflet/dist`` (pinned in ``package-lock.json``);
* ``GET /geo/<name>.geojson`` — the shipped base map (land and territorial-sea polygons,
  OSM/ODbL) and ADIZ outlines from ``src/trilat/data/geo``, gzip-compressed when the
  client accepts it.

Invariant: the page is static and public; it talks only to ``/api/v1`` with the bearer
token its user pastes in. Nothing here reads a token, a store or a label, and nothing here
decides who may see what. The page's Content-Security-Policy allows scripts, styles and
connections to this origin only, so that an injected string cannot run or send the token
anywhere.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from pathlib import Path
from typing import Annotated, Final

from fastapi import FastAPI, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from trilat.api.problems import Problem

WEB_DIR: Final = Path(__file__).resolve().parents[1] / "web"
GEO_DIR: Final = Path(__file__).resolve().parents[1] / "data" / "geo"
LEAFLET_DIR: Final = WEB_DIR / "node_modules" / "leaflet" / "dist"

PAGE_FILES: Final = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
GEO_FILES: Final = frozenset({"territory-ne-asia.geojson", "adiz.geojson", "features.geojson"})

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""Only this origin's scripts, styles and connections; no inline script, no framing."""

_PAGE_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


class _Geo:
    """One shipped GeoJSON file, read and compressed once, with its entity tag."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._plain: bytes | None = None
        self._packed: bytes | None = None
        self.etag = ""

    def load(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._plain is None or self._packed is None:
                plain = self.path.read_bytes()
                self._packed = gzip.compress(plain, compresslevel=6, mtime=0)
                self.etag = '"' + hashlib.sha256(plain).hexdigest()[:32] + '"'
                self._plain = plain
            return self._plain, self._packed


def _accepts_gzip(accept_encoding: str | None) -> bool:
    for part in (accept_encoding or "").split(","):
        coding, _, parameters = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = parameters.strip().removeprefix("q=").strip()
            return quality == "" or _positive(quality)
    return False


def _positive(quality: str) -> bool:
    try:
        return float(quality) > 0
    except ValueError:
        return False


def mount_web(app: FastAPI) -> None:
    """Serve the operating picture page, its map library and base-map geodata on *app*."""
    geo = {name: _Geo(GEO_DIR / name) for name in sorted(GEO_FILES)}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            WEB_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={**_PAGE_HEADERS, "cache-control": "no-cache"},
        )

    def page_file(name: str, media_type: str) -> None:
        def serve() -> FileResponse:
            return FileResponse(
                WEB_DIR / name,
                media_type=media_type,
                headers={"x-content-type-options": "nosniff", "cache-control": "no-cache"},
            )

        app.add_api_route(f"/{name}", serve, methods=["GET"], include_in_schema=False)

    for name, media_type in PAGE_FILES.items():
        page_file(name, media_type)

    @app.get("/geo/{name}", include_in_schema=False)
    def geodata(
        name: Annotated[str, PathParam(max_length=64)],
        request: Request,
        accept_encoding: Annotated[str | None, Header(max_length=256)] = None,
    ) -> Response:
        entry = geo.get(name)
        if entry is None:
            raise Problem(404, "not-found", f"no shipped geodata named {name!r}")
        plain, packed = entry.load()
        headers = {
            "etag": entry.etag,
            "cache-control": "public, max-age=3600",
            "vary": "accept-encoding",
            "x-content-type-options": "nosniff",
        }
        if request.headers.get("if-none-match") == entry.etag:
            return Response(status_code=304, headers=headers)
        if _accepts_gzip(accept_encoding):
            headers["content-encoding"] = "gzip"
            body = packed
        else:
            body = plain
        return Response(body, media_type="application/geo+json", headers=headers)

    app.mount(
        "/vendor/leaflet",
        StaticFiles(directory=LEAFLET_DIR, check_dir=False),
        name="leaflet",
    )
