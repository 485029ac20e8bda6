"""One way to call another service over HTTP: payment providers, AI providers, Resend, Supabase Storage and
the project's JWKS all go through `send` and `check`, so a timeout, a refused connection or an error status
means the same thing everywhere. Each caller names its error family (thinbase.errors): the family turns the
`Failure` below into its own class and code (`from_failure`).

| what happened                          | kind          |
|----------------------------------------|---------------|
| no answer within the timeout           | timeout       |
| connection refused, DNS, TLS ...       | unreachable   |
| 401 / 403                              | auth_failed   |
| 404                                    | not_found     |
| 409                                    | conflict      |
| 429                                    | rate_limited  |
| 408, 5xx (incl. 529 overloaded)        | unavailable   |
| any other 4xx                          | rejected      |
| 2xx we cannot read, a 1xx/3xx          | bad_response  |

Messages carry the service's own explanation (shortened) but never our request's headers, so no key or
secret can end up in a log line or an answer. `Retry-After` (seconds or an HTTP date) and `retry-after-ms`
are read into `retry_after`.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx

from thinbase.errors import Failure, Kind, UpstreamError

# Reads (the service's error codes, its human explanation) out of an error body (parsed JSON, or None).
Describe = Callable[[Any], tuple[tuple[str, ...], str | None]]

DETAIL_LIMIT = 200
MAX_RETRY_AFTER_SECONDS = 3600


def shorten(text: str) -> str:
    """One line of at most DETAIL_LIMIT characters."""
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def kind_for(status: int) -> Kind:
    if status in (401, 403):
        return "auth_failed"
    if status == 404:
        return "not_found"
    if status == 409:
        return "conflict"
    if status == 429:
        return "rate_limited"
    if status == 408 or status >= 500:
        return "unavailable"
    if 400 <= status < 500:
        return "rejected"
    return "bad_response"


def retry_after(headers: Mapping[str, str]) -> int | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date); None if absent."""
    seconds: float | None = None
    raw_ms = headers.get("retry-after-ms")
    raw = headers.get("retry-after")
    try:
        if raw_ms is not None:
            seconds = float(raw_ms) / 1000
        elif raw is not None:
            try:
                seconds = float(raw)
            except ValueError:
                seconds = email.utils.parsedate_to_datetime(raw).timestamp() - time.time()
    except (ValueError, TypeError, OverflowError):
        return None
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(math.ceil(seconds), 1), MAX_RETRY_AFTER_SECONDS)


def target(url: httpx.URL) -> str:
    """scheme://host[:port] of `url`: where a call went, without the path, query or any credential."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def _no_description(body: Any) -> tuple[tuple[str, ...], str | None]:
    return (), None


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    service: str,
    errors: type[UpstreamError],
    timeout: float | httpx.Timeout,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    params: Mapping[str, str] | None = None,
    stream: bool = False,
) -> httpx.Response:
    """Send one request. Transport failures raise `errors`' timeout/unreachable error, never a raw httpx
    exception. Any status comes back as it is: `check` decides what an error status means. With
    `stream=True` the body is left unread (the caller closes the response)."""
    request = http.build_request(
        method, url, headers=dict(headers or {}), content=content, params=params, timeout=timeout
    )
    where = target(request.url)
    try:
        return http.send(request, stream=stream)
    except httpx.TimeoutException:
        limit = timeout.read if isinstance(timeout, httpx.Timeout) else timeout
        raise errors.from_failure(
            Failure("timeout", service, f"{service} did not answer within {limit:g} s", target=where)
        ) from None
    except httpx.TransportError as exc:
        raise errors.from_failure(
            Failure(
                "unreachable",
                service,
                f"could not reach {service} at {where} ({type(exc).__name__})",
                target=where,
            )
        ) from None
    except httpx.HTTPError as exc:
        raise errors.from_failure(
            Failure("bad_response", service, f"{service} call failed ({type(exc).__name__})", target=where)
        ) from None


async def asend(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    service: str,
    errors: type[UpstreamError],
    timeout: float | httpx.Timeout,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    params: Mapping[str, str] | None = None,
    stream: bool = False,
) -> httpx.Response:
    """`send` on an async client: the request path waits on the service without holding a thread. Transport
    failures raise `errors`' timeout/unreachable error, never a raw httpx
    exception. Any status comes back as it is: `check` decides what an error status means. With
    `stream=True` the body is left unread (the caller closes the response)."""
    request = http.build_request(
        method, url, headers=dict(headers or {}), content=content, params=params, timeout=timeout
    )
    where = target(request.url)
    try:
        return await http.send(request, stream=stream)
    except httpx.TimeoutException:
        limit = timeout.read if isinstance(timeout, httpx.Timeout) else timeout
        raise errors.from_failure(
            Failure("timeout", service, f"{service} did not answer within {limit:g} s", target=where)
        ) from None
    except httpx.TransportError as exc:
        raise errors.from_failure(
            Failure(
                "unreachable",
                service,
                f"could not reach {service} at {where} ({type(exc).__name__})",
                target=where,
            )
        ) from None
    except httpx.HTTPError as exc:
        raise errors.from_failure(
            Failure("bad_response", service, f"{service} call failed ({type(exc).__name__})", target=where)
        ) from None


def parse(response: httpx.Response) -> Any:
    """The response's JSON, or None when it has none we can read."""
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def failure(response: httpx.Response, *, service: str, describe: Describe = _no_description) -> Failure:
    """What a non-success answer means (the table above), with the service's own codes and explanation."""
    if not response.is_stream_consumed:
        with contextlib.suppress(httpx.HTTPError):  # unreadable: the status alone decides
            response.read()
    codes, detail = describe(parse(response))
    message = f"{service} answered HTTP {response.status_code}"
    if detail:
        message += f": {shorten(detail)}"
    return Failure(
        kind_for(response.status_code),
        service,
        message,
        upstream_status=response.status_code,
        codes=codes,
        detail=shorten(detail) if detail else None,
        retry_after=retry_after(response.headers),
        target=target(response.request.url),
    )


def check(
    response: httpx.Response,
    *,
    service: str,
    errors: type[UpstreamError],
    ok: Collection[int] | None = None,
    describe: Describe = _no_description,
) -> httpx.Response:
    """The response when its status is a success (`ok`, or any 2xx), else `errors`' error for it."""
    if (response.status_code in ok) if ok is not None else response.is_success:
        return response
    try:
        raise errors.from_failure(failure(response, service=service, describe=describe))
    finally:
        if not response.is_closed:  # an async response is read and closed before it gets here (asend)
            response.close()


def json_object(
    response: httpx.Response,
    *,
    service: str,
    errors: type[UpstreamError],
    ok: Collection[int] | None = None,
    describe: Describe = _no_description,
) -> dict[str, Any]:
    """The JSON object of a successful answer, or `errors`' error (bad_response for an unreadable body)."""
    check(response, service=service, errors=errors, ok=ok, describe=describe)
    body = parse(response)
    if not isinstance(body, dict):
        raise errors.from_failure(
            Failure(
                "bad_response",
                service,
                f"{service} answered HTTP {response.status_code} with a body that is not a JSON object",
                upstream_status=response.status_code,
            )
        )
    return body
