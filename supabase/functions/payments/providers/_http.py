"""The payment providers' calls through thinbase.upstream, with ProviderError as the error family.

Codes are `provider_` + upstream's kind (provider_timeout, provider_unreachable, provider_auth_failed,
provider_not_found, provider_conflict, provider_rate_limited, provider_rejected, provider_unavailable,
provider_bad_response): the kind table is thinbase/upstream.py's, the same for every outbound call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx

from thinbase import upstream
from thinbase.errors import Failure, ProviderError

# Reads (provider_code, human detail) out of a provider's error body (parsed JSON, or None).
Describe = Callable[[Any], tuple[str | None, str | None]]

shorten = upstream.shorten


def _codes(describe: Describe) -> upstream.Describe:
    def read(body: Any) -> tuple[tuple[str, ...], str | None]:
        code, detail = describe(body)
        return ((code,) if code else ()), detail

    return read


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
    return upstream.send(
        http,
        method,
        url,
        service=provider,
        errors=ProviderError,
        timeout=timeout,
        headers=headers,
        content=content,
        params=params,
    )


def error_for(response: httpx.Response, provider: str, describe: Describe) -> ProviderError:
    """The ProviderError for a non-success answer."""
    return ProviderError.from_failure(upstream.failure(response, service=provider, describe=_codes(describe)))


def json_object(
    response: httpx.Response, provider: str, *, ok: Collection[int], describe: Describe
) -> dict[str, Any]:
    """The JSON object of a successful answer, or the right ProviderError."""
    return upstream.json_object(
        response, service=provider, errors=ProviderError, ok=ok, describe=_codes(describe)
    )


def bad_response(provider: str, what: str, status: int | None = None) -> ProviderError:
    """A successful answer that lacks something we need."""
    return ProviderError.from_failure(
        Failure("bad_response", provider, f"{provider} answer is missing {what}", upstream_status=status)
    )
