"""Every error thinbase raises on purpose, in one tree. Each class carries what the edge app answers with
— `http_status`, a stable snake_case `code` clients may branch on, a `public_message` safe to show and
`http_headers` — and the app's one exception handler turns any of them into `{"error": {code, message}}`.
`str(error)` is for logs: it may say more than the public message, but never a key, secret or token.

    ThinbaseError                        500 internal_error
    ├── ConfigurationError               503 not_configured        a setting is missing or malformed
    │   └── AiNotConfigured              503 ai_not_configured
    ├── HttpError                        4xx/5xx, per instance     a request refused, with its own code
    ├── TokenError                       401 unauthorized          a bad, expired or unknown token or key
    ├── DatabaseError                                              what the database port raises
    │   ├── DatabaseUnavailable          503 database_unavailable  unreachable or dropped: retry later
    │   └── RpcError                     PostgREST's status         the RPC ran and failed (PostgREST body)
    ├── WebhookError                     400                       an incoming webhook refused before any
    │   │                                                          database work
    │   ├── WebhookSignatureError        401 invalid_signature     missing/bad signature, stale timestamp
    │   └── WebhookPayloadError          400 invalid_payload       a signed body we cannot read
    ├── UpstreamError                    502 upstream_error        an outbound call failed (thinbase.upstream)
    │   ├── ProviderError                502 provider_error        a payment provider's API
    │   │   └── ProviderTimeout          502 provider_timeout      no answer in time, or unreachable
    │   ├── ProviderUnconfirmed          503 provider_unavailable  its status API could not confirm an event
    │   ├── AiProviderError              502 ai_provider_error     the AI provider; one class per kind:
    │   │   ├── AiProviderAuthFailed     502 ai_provider_auth_failed     our key is wrong
    │   │   ├── AiProviderBusy           503 ai_provider_busy            429 rate limit (Retry-After)
    │   │   ├── AiProviderQuotaExhausted 503 ai_provider_quota_exhausted the account is out of credit
    │   │   ├── AiProviderUnavailable    503 ai_provider_unavailable     5xx, 529, 408, a mid-stream error
    │   │   ├── AiProviderTimeout        503 ai_provider_timeout
    │   │   │   ├── AiProviderUnreachable    503 ai_provider_unreachable
    │   │   │   └── AiProviderInterrupted    503 ai_provider_stream_interrupted
    │   │   ├── AiProviderRejected       502 ai_provider_rejected        any other 4xx
    │   │   └── AiProviderBadResponse    502 ai_provider_bad_response
    │   ├── EmailError                   502 email_error           Resend (`retryable` says whether to retry)
    │   │   └── EmailNotConfigured       503 email_not_configured
    │   ├── StorageError                 502 storage_error         Supabase Storage
    │   └── JwksError                    503 auth_unavailable      the project's signing keys
    ├── StackError                                                 the local stack (CLI, tests)
    │   └── SupabaseCliMissing                                     node_modules/.bin/supabase is not there
    └── SimulationError                                            `webhooks simulate` cannot build a webhook

Webhook errors and upstream errors are separate branches on purpose: one is about requests someone sent
us, the other about calls we make. An upstream error's `kind` says how the call failed (the table in
thinbase/upstream.py); each family turns a kind into its own class and code in `from_failure`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

# How an outbound call failed (thinbase.upstream decides which, from the transport or the status).
Kind = Literal[
    "timeout",
    "unreachable",
    "auth_failed",
    "not_found",
    "conflict",
    "rate_limited",
    "rejected",
    "unavailable",
    "bad_response",
]


@dataclass(frozen=True)
class Answer:
    """What the edge app answers for an error: the status, `{"error": {code, message}}` and headers."""

    status: int
    code: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


class ThinbaseError(Exception):
    """Base class for every error thinbase raises on purpose.

    `code` is the error's own stable code; `answer_code`, where a family sets it, is the one clients see
    instead (a payment provider's `provider_rejected` is answered as `provider_error`)."""

    http_status: int = 500
    code: str = "internal_error"
    answer_code: str | None = None

    @property
    def public_message(self) -> str:
        """What a client may read."""
        return str(self)

    @property
    def http_headers(self) -> dict[str, str]:
        return {}

    def answer(self) -> Answer:
        return Answer(self.http_status, self.answer_code or self.code, self.public_message, self.http_headers)


class ConfigurationError(ThinbaseError):
    """A setting is missing or malformed."""

    http_status = 503
    code = "not_configured"


class HttpError(ThinbaseError):
    """A request refused by an endpoint: its status, stable code and message are the answer."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = self.http_status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    @property
    def public_message(self) -> str:
        return self.message

    @property
    def http_headers(self) -> dict[str, str]:
        return self.headers


class TokenError(ThinbaseError):
    """An access token or API key that does not verify. The message says why (no token in it)."""

    http_status = 401
    code = "unauthorized"

    @property
    def public_message(self) -> str:
        return f"Sign in first ({self})."

    @property
    def http_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


# -- the database port --------------------------------------------------------------------------------------


def rate_limit_headers(details: str | None) -> dict[str, str]:
    """X-RateLimit-* and Retry-After from a PT429 error's JSON detail (retry_after_seconds, limit)."""
    try:
        info = json.loads(details or "{}")
        retry = max(int(info.get("retry_after_seconds", 60)), 1)
    except (ValueError, TypeError, AttributeError):
        info, retry = {}, 60
    headers = {
        "Retry-After": str(retry),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time()) + retry),
    }
    if isinstance(info.get("limit"), int):
        headers["X-RateLimit-Limit"] = str(info["limit"])
    return headers


class DatabaseError(ThinbaseError):
    """Raised by the database port."""


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached or dropped the connection; the caller may retry."""

    http_status = 503
    code = "database_unavailable"
    status = 503

    @property
    def public_message(self) -> str:
        return "The database is unreachable; try again shortly."


class RpcError(DatabaseError):
    """An RPC failed. Fields mirror PostgREST's error body; ``status`` is the HTTP status PostgREST answers.

    Both adapters raise this with identical fields for the same failure, so callers never need to know
    which adapter they talk to. The edge answers our own errors as they are — SQLSTATE PTxxx, whose message
    is a snake_case code, and `raise sqlstate 'PGRST'` ones (`custom`: a code, message, status and response
    headers of our choosing, such as Retry-After) — and hides anything else behind a 500.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        custom: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = dict(headers or {})
        self.custom = custom

    def answer(self) -> Answer:
        if self.custom and self.status < 500:
            return Answer(self.status, self.code, self.message, self.headers)
        if self.code.startswith("PT") and self.status < 500:
            headers = rate_limit_headers(self.details) if self.status == 429 else {}
            message = (self.hint or "Too many requests; try again later.") if self.status == 429 else None
            return Answer(self.status, self.message, message or self.details or self.message, headers)
        if self.status in (401, 403):
            return Answer(self.status, "forbidden", "Not allowed.")
        return Answer(500, "internal_error", "The database refused the request.")

    def as_postgrest_body(self) -> dict[str, Any]:
        """The JSON body PostgREST sends for this error."""
        return {"code": self.code, "message": self.message, "details": self.details, "hint": self.hint}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RpcError):
            return NotImplemented
        return (self.status, *self.as_postgrest_body().values()) == (
            other.status,
            *other.as_postgrest_body().values(),
        )

    def __hash__(self) -> int:
        return hash((self.status, self.code, self.message))

    def __repr__(self) -> str:
        return f"RpcError(status={self.status}, code={self.code!r}, message={self.message!r})"


# -- webhooks we receive ------------------------------------------------------------------------------------


class WebhookError(ThinbaseError):
    """An incoming webhook was refused. `code` says why, for logs (bad_signature, malformed_body ...);
    clients see `invalid_signature` or `invalid_payload`."""

    http_status = 400
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class WebhookSignatureError(WebhookError):
    """Missing or bad signature, or a timestamp outside the tolerance: answered 401."""

    http_status = 401
    status = 401
    answer_code = "invalid_signature"

    @property
    def public_message(self) -> str:
        return "The webhook signature did not verify."


class WebhookPayloadError(WebhookError):
    """The body passed verification (or, for schemes that sign fields, could not be read): answered 400."""

    http_status = 400
    status = 400
    answer_code = "invalid_payload"

    @property
    def public_message(self) -> str:
        return "The webhook body is not a valid event."


# -- calls we make ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """What thinbase.upstream learned about a failed outbound call."""

    kind: Kind
    service: str  # whom we called: "stripe", "openai-compatible", "resend", "storage", "jwks" ...
    message: str  # for logs; the service's own explanation shortened, never our request's headers
    upstream_status: int | None = None
    codes: tuple[str, ...] = ()  # the service's own error codes/types from its body (amount_too_small ...)
    detail: str | None = None  # the service's explanation, shortened
    retry_after: int | None = None  # seconds, from Retry-After / retry-after-ms
    target: str | None = None  # where we called: scheme://host[:port], never a path, query or credential


class UpstreamError(ThinbaseError):
    """An outbound call failed. `kind` says how; `upstream_status` is the service's HTTP status, if any."""

    http_status = 502
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        kind: Kind = "bad_response",
        service: str | None = None,
        upstream_status: int | None = None,
        upstream_code: str | None = None,
        retry_after: int | None = None,
        detail: str | None = None,
        target: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.service = service
        self.upstream_status = upstream_status
        self.upstream_code = upstream_code
        self.retry_after = retry_after
        self.detail = detail
        self.target = target

    @classmethod
    def from_failure(cls, failure: Failure) -> UpstreamError:
        """This family's error for `failure` (families pick a class and code per kind)."""
        return cls(
            failure.message,
            kind=failure.kind,
            service=failure.service,
            upstream_status=failure.upstream_status,
            upstream_code=failure.codes[0] if failure.codes else None,
            retry_after=failure.retry_after,
            detail=failure.detail,
            target=failure.target,
        )

    @property
    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, kind={self.kind!r}, service={self.service!r}, "
            f"upstream_status={self.upstream_status!r})"
        )


class ProviderError(UpstreamError):
    """A call to a payment provider's API failed.

    `code` is our stable code for what happened (`provider_` + the kind: provider_rejected,
    provider_auth_failed ..., or a specific one such as provider_duplicate_order, amount_not_representable);
    `status` is the provider's HTTP status when there was one; `provider_code` the provider's own error code
    (Stripe `amount_too_small`, Razorpay `BAD_REQUEST_ERROR` ...). Clients see 502 `provider_error`.
    """

    answer_code = "provider_error"

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        provider: str | None = None,
        provider_code: str | None = None,
        kind: Kind = "rejected",
        retry_after: int | None = None,
        target: str | None = None,
    ) -> None:
        super().__init__(
            f"{code}: {message}",
            kind=kind,
            service=provider,
            upstream_status=status,
            upstream_code=provider_code,
            retry_after=retry_after,
            target=target,
        )
        self.code = code
        self.message = message

    @property
    def status(self) -> int | None:
        return self.upstream_status

    @property
    def provider(self) -> str | None:
        return self.service

    @property
    def provider_code(self) -> str | None:
        return self.upstream_code

    @classmethod
    def from_failure(cls, failure: Failure) -> ProviderError:
        family = ProviderTimeout if failure.kind in ("timeout", "unreachable") else ProviderError
        return family(
            f"provider_{failure.kind}",
            failure.message,
            failure.upstream_status,
            provider=failure.service,
            provider_code=failure.codes[0] if failure.codes else None,
            kind=failure.kind,
            retry_after=failure.retry_after,
            target=failure.target,
        )

    @property
    def public_message(self) -> str:
        return f"{self.service or 'The provider'} refused the checkout ({self.code}); try again."

    @property
    def http_headers(self) -> dict[str, str]:
        return {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r}, "
            f"provider={self.provider!r})"
        )


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout (provider_timeout), or could not be reached at all
    (provider_unreachable: a refused connection, DNS, TLS — which names the base URL in use, since that is
    usually the setting to fix). Safe to retry later."""

    answer_code = "provider_timeout"

    def answer(self) -> Answer:
        if self.kind == "unreachable":
            where = f" at {self.target}" if self.target else ""
            message = f"{self.service or 'The provider'} could not be reached{where}; try again."
            return Answer(self.http_status, "provider_unreachable", message)
        return super().answer()

    @property
    def public_message(self) -> str:
        return f"{self.service or 'The provider'} did not answer in time; try again."


class ProviderUnconfirmed(UpstreamError):
    """A notification that is only a hint (Midtrans) could not be confirmed with the provider's status
    API: answered 503 so the provider delivers it again later."""

    http_status = 503
    code = "provider_unavailable"

    @property
    def public_message(self) -> str:
        return "The provider's status API could not confirm the event; retry."


class AiError(ThinbaseError):
    """Base of the AI layer's own errors (configuration, providers)."""

    http_status = 503
    code = "ai_error"

    @property
    def public_message(self) -> str:
        return str(self)


class AiNotConfigured(ConfigurationError, AiError):
    """AI_PROVIDER / AI_API_KEY / AI_BASE_URL / a model is missing."""

    http_status = 503
    code = "ai_not_configured"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AiProviderError(UpstreamError, AiError):
    """A call to the AI provider failed. Messages are safe to show and log: they never contain our key nor
    the provider's own message for auth failures (OpenAI echoes a masked key there); `detail` carries the
    provider's shortened explanation for logs."""

    http_status = 502
    code = "ai_provider_error"
    kind_default: ClassVar[Kind] = "bad_response"

    def __init__(
        self,
        message: str,
        *,
        provider_status: int | None = None,
        retry_after: int | None = None,
        detail: str | None = None,
        kind: Kind | None = None,
        service: str | None = None,
    ) -> None:
        super().__init__(
            message,
            kind=kind or self.kind_default,
            service=service,
            upstream_status=provider_status,
            retry_after=retry_after,
            detail=detail,
        )

    @property
    def provider_status(self) -> int | None:
        return self.upstream_status

    @property
    def public_message(self) -> str:
        return self.message

    @classmethod
    def from_failure(cls, failure: Failure) -> AiProviderError:
        status = failure.upstream_status
        codes = set(failure.codes)
        kind = failure.kind
        if kind == "rejected" and "API_KEY_INVALID" in codes:  # Gemini answers a wrong key with 400
            kind = "auth_failed"
        if kind == "auth_failed":
            # The provider's message may echo (part of) the key: keep it out of the detail as well.
            return AiProviderAuthFailed(
                f"The AI provider refused our credentials (HTTP {status}).", provider_status=status
            )
        if kind == "rate_limited" and codes & {
            "insufficient_quota",
            "credit_balance_exhausted",
            "project_spend_limit_exceeded",
        }:
            return AiProviderQuotaExhausted(
                "The AI provider account is out of quota.", provider_status=status, detail=failure.detail
            )
        if kind == "rate_limited":
            return AiProviderBusy(
                "The AI provider is rate-limiting us; try again shortly.",
                provider_status=status,
                retry_after=failure.retry_after,
                detail=failure.detail,
            )
        if kind == "unavailable":
            return AiProviderUnavailable(
                f"The AI provider is unavailable (HTTP {status}); try again shortly.",
                provider_status=status,
                retry_after=failure.retry_after,
                detail=failure.detail,
            )
        if kind == "timeout":
            return AiProviderTimeout("The AI provider did not answer in time; try again.")
        if kind == "unreachable":
            return AiProviderUnreachable(
                f"The AI provider could not be reached ({failure.message}); try again."
            )
        if kind in ("rejected", "not_found", "conflict"):
            return AiProviderRejected(
                f"The AI provider refused the request (HTTP {status}).",
                provider_status=status,
                detail=failure.detail,
            )
        if status is not None:
            return AiProviderBadResponse(
                f"The AI provider answered with an unexpected HTTP {status}.", provider_status=status
            )
        return AiProviderBadResponse("The AI provider sent an answer we could not read.")


class AiProviderAuthFailed(AiProviderError):
    code = "ai_provider_auth_failed"
    kind_default = "auth_failed"


class AiProviderBusy(AiProviderError):
    http_status = 503
    code = "ai_provider_busy"
    kind_default = "rate_limited"


class AiProviderQuotaExhausted(AiProviderError):
    http_status = 503
    code = "ai_provider_quota_exhausted"
    kind_default = "rate_limited"


class AiProviderUnavailable(AiProviderError):
    http_status = 503
    code = "ai_provider_unavailable"
    kind_default = "unavailable"


class AiProviderTimeout(AiProviderError):
    http_status = 503
    code = "ai_provider_timeout"
    kind_default: ClassVar[Kind] = "timeout"


class AiProviderUnreachable(AiProviderTimeout):
    code = "ai_provider_unreachable"
    kind_default = "unreachable"


class AiProviderInterrupted(AiProviderTimeout):
    code = "ai_provider_stream_interrupted"


class AiProviderRejected(AiProviderError):
    code = "ai_provider_rejected"
    kind_default = "rejected"


class AiProviderBadResponse(AiProviderError):
    code = "ai_provider_bad_response"


class EmailError(UpstreamError):
    """The email could not be sent. `code` is stable; `retryable` says whether trying later may help."""

    code = "email_error"

    def __init__(self, code: str, message: str, *, retryable: bool, kind: Kind = "rejected") -> None:
        super().__init__(message, kind=kind, service="resend")
        self.code = code
        self.retryable = retryable

    @classmethod
    def from_failure(cls, failure: Failure) -> EmailError:
        status = failure.upstream_status
        if failure.kind in ("timeout", "unreachable", "bad_response") and status is None:
            code = {"timeout": "email_timeout", "unreachable": "email_unreachable"}.get(
                failure.kind, "email_bad_response"
            )
            return cls(code, failure.message, retryable=True, kind=failure.kind)
        if failure.kind == "bad_response":
            return cls("email_bad_response", failure.message, retryable=True, kind=failure.kind)
        name = failure.codes[0] if failure.codes else "error"
        # Quota errors (daily_quota_exceeded, monthly_quota_exceeded) come back tomorrow, not in a minute.
        retryable = failure.kind == "unavailable" or (failure.kind == "rate_limited" and "quota" not in name)
        return cls(
            f"email_rejected_{status}",
            f"Resend answered {status} ({name}).",
            retryable=retryable,
            kind=failure.kind,
        )


class EmailNotConfigured(EmailError):
    http_status = 503

    def __init__(self) -> None:
        super().__init__("email_not_configured", "Set RESEND_API_KEY and EMAIL_FROM.", retryable=False)


class StorageError(UpstreamError):
    """Supabase Storage could not be reached (storage_unavailable) or answered with an error we do not
    pass on (storage_error)."""

    code = "storage_error"

    @classmethod
    def from_failure(cls, failure: Failure) -> StorageError:
        error = cls(
            failure.message,
            kind=failure.kind,
            service=failure.service,
            upstream_status=failure.upstream_status,
        )
        if failure.kind in ("timeout", "unreachable"):
            error.code = "storage_unavailable"
        return error

    @property
    def public_message(self) -> str:
        if self.code == "storage_unavailable":
            return "Storage could not be reached."
        return f"Storage answered {self.upstream_status}." if self.upstream_status else self.message


class JwksError(UpstreamError):
    """The project's signing keys could not be fetched (and none are cached)."""

    http_status = 503
    code = "auth_unavailable"


# -- local tools --------------------------------------------------------------------------------------------


class StackError(ThinbaseError):
    """The local stack could not do what was asked. The message says why and what to run."""


class SupabaseCliMissing(StackError):
    """node_modules/.bin/supabase is not there."""


class SimulationError(ThinbaseError):
    """The webhook cannot be built: a missing secret, or a status this provider never reports."""
