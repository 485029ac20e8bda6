"""One way to call a provider's API: sync httpx, a per-call timeout, and failures mapped to ProviderError.

Error codes (ours, stable, what the edge handler reports):

| situation                              | code                    |
|----------------------------------------|-------------------------|
| no answer within the timeout           | provider_timeout        |
| connection refused, DNS, TLS ...       | provider_unreachable    |
| 401 / 403                              | provider_auth_failed    |
| 404                                    | provider_not_found      |
| 409                                    | provider_conflict       |
| 429                                    | provider_rate_limited   |
| any other 4xx                          | provider_rejected       |
| 5xx                                    | provider_unavailable    |
| 2xx we cannot read, or a 1xx/3xx       | provider_bad_response   |

Messages carry the provider's own explanation (shortened) but never our request headers, so no key or
secret can end up in a log line or an API answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx

from .errors import ProviderError, ProviderTimeout

# Reads (provider_code, human detail) out of a provider's error body (parsed JSON, or None).
Describe = Callable[[Any], tuple[str | None, str | None]]

_DETAIL_LIMIT = 200


def send(
    http: httpx.Client,
    provider: str,
    method: str,
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str],
    content: bytes | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Send one request; transport failures become ProviderTimeout, never a raw httpx exception."""
    try:
        return http.request(
            method, url, headers=dict(headers), content=content, params=params, timeout=timeout
        )
    except httpx.TimeoutException:
        raise ProviderTimeout(
            "provider_timeout", f"{provider} did not answer within {timeout:g} s", provider=provider
        ) from None
    except httpx.TransportError as exc:
        raise ProviderTimeout(
            "provider_unreachable", f"could not reach {provider} ({type(exc).__name__})", provider=provider
        ) from None
    except httpx.HTTPError as exc:
        raise ProviderError(
            "provider_bad_response", f"{provider} call failed ({type(exc).__name__})", provider=provider
        ) from None


def _parse(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _code_for(status: int) -> str:
    if status in (401, 403):
        return "provider_auth_failed"
    if status == 404:
        return "provider_not_found"
    if status == 409:
        return "provider_conflict"
    if status == 429:
        return "provider_rate_limited"
    if 400 <= status < 500:
        return "provider_rejected"
    if status >= 500:
        return "provider_unavailable"
    return "provider_bad_response"


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def error_for(response: httpx.Response, provider: str, describe: Describe) -> ProviderError:
    """The ProviderError for a non-success answer."""
    provider_code, detail = describe(_parse(response))
    message = f"{provider} answered HTTP {response.status_code}"
    if detail:
        message += f": {shorten(detail)}"
    return ProviderError(
        _code_for(response.status_code),
        message,
        response.status_code,
        provider=provider,
        provider_code=provider_code,
    )


def json_object(
    response: httpx.Response, provider: str, *, ok: Collection[int], describe: Describe
) -> dict[str, Any]:
    """The JSON object of a successful answer, or the right ProviderError."""
    if response.status_code not in ok:
        raise error_for(response, provider, describe)
    body = _parse(response)
    if not isinstance(body, dict):
        raise ProviderError(
            "provider_bad_response",
            f"{provider} answered HTTP {response.status_code} with a body that is not a JSON object",
            response.status_code,
            provider=provider,
        )
    return body


def bad_response(provider: str, what: str, status: int | None = None) -> ProviderError:
    """A successful answer that lacks something we need."""
    return ProviderError(
        "provider_bad_response", f"{provider} answer is missing {what}", status, provider=provider
    )
