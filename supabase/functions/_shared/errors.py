"""One JSON error shape for every endpoint: {"error": {"code", "message"}}, from one handler.

Every error of ours (thinbase.errors) says what to answer (`ThinbaseError.answer()`): endpoints raise and
never build error responses themselves. Starlette's own HTTP errors (404, 405) get the same shape; anything
else is a 500 whose details stay in the log. Codes are stable snake_case strings clients may branch on;
messages are for humans.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from thinbase.errors import ThinbaseError

log = logging.getLogger("thinbase.edge")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=dict(headers or {})
    )


async def thinbase_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ThinbaseError)
    answer = exc.answer()
    if answer.status >= 500:
        log.warning(
            "%s %s answered %s %s: %s", request.method, request.url.path, answer.status, answer.code, exc
        )
    return error_response(answer.status, answer.code, answer.message, answer.headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")
