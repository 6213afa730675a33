"""Every API error as one RFC 9457 ``application/problem+json`` shape.

``{"type", "title", "status", "detail", "instance", ...extensions}``; ``type`` is a relative
URI ``/problems/<slug>``, ``instance`` is the request id the log line also carries, and a
5xx detail is always generic. Trilat errors, request validation, HTTP errors and any
unexpected exception all leave through ``problem_response``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from trilat.core.errors import (
    AgreementError,
    AuditError,
    DecodeError,
    LabelError,
    PeerError,
    PolicyError,
    SignatureError,
    StoreError,
    TrilatError,
)

_log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

PROBLEMS: Final[dict[type[BaseException], tuple[int, str]]] = {
    LabelError: (422, "label-invalid"),
    DecodeError: (422, "item-invalid"),
    SignatureError: (422, "signature-invalid"),
    AgreementError: (500, "internal"),
    PolicyError: (403, "forbidden"),
    AuditError: (500, "internal"),
    StoreError: (503, "store-unavailable"),
    PeerError: (502, "peer-failed"),
}

_STATUS_SLUGS: Final[dict[int, str]] = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    429: "too-many-requests",
}


class Problem(TrilatError):
    """An HTTP-level refusal raised by a route: status, slug, detail and safe extensions."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.status, self.slug, self.detail = status, slug, detail
        self.headers = headers or {}
        self._extensions = extensions
        super().__init__(detail)

    def extensions(self) -> dict[str, Any]:
        return dict(self._extensions)


class BodyTooLarge(StarletteHTTPException):
    """A request body went over its limit while it was being read."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(status_code=413, detail=f"request body exceeds {limit} bytes")


def not_found(what: str = "item") -> Problem:
    """The one answer for anything absent *or not visible to the caller* (never 403)."""
    return Problem(404, "not-found", f"no such {what}")


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = str(uuid.uuid4())
        request.state.request_id = rid
    return str(rid)


def problem_body(
    status: int, slug: str, detail: str, instance: str, extensions: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": slug.replace("-", " "),
        "status": status,
        "detail": detail if status < 500 else "internal error",
        "instance": f"urn:uuid:{instance}",
    }
    if status < 500 and extensions:
        body.update({k: v for k, v in extensions.items() if k not in body})
    return body


def problem_response(
    request: Request,
    status: int,
    slug: str,
    detail: str,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, slug, detail, request_id(request), extensions)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers or None
    )


async def _trilat_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, Problem):
        return problem_response(
            request, exc.status, exc.slug, exc.detail, exc.extensions(), exc.headers
        )
    assert isinstance(exc, TrilatError)  # noqa: S101 - registered for TrilatError only
    found = [PROBLEMS[k] for k in type(exc).__mro__ if k in PROBLEMS]
    status, slug = found[0] if found else (500, "internal")
    if status >= 500:
        _log.error("request.failed id=%s error=%s", request_id(request), type(exc).__name__)
    return problem_response(request, status, slug, str(exc), exc.extensions())


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem_response(request, 400, "malformed-json", "request body is not valid JSON")
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    problems = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))}
        for e in errors[:20]
    ]
    return problem_response(
        request, 422, "invalid-request", f"{where}: {message}", {"errors": problems}
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    status = exc.status_code
    slug = _STATUS_SLUGS.get(status, "bad-request" if status < 500 else "internal")
    detail = exc.detail if isinstance(exc.detail, str) else slug.replace("-", " ")
    return problem_response(request, status, slug, detail, headers=dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("request.crashed id=%s error=%s", request_id(request), type(exc).__name__)
    return problem_response(request, 500, "internal", "internal error")


def install(app: FastAPI) -> None:
    """Route every error of *app* through the problem shape."""
    app.add_exception_handler(TrilatError, _trilat_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
