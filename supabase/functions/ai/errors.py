"""Errors of the AI layer. They extend the tree in `thinbase.errors`:

    ThinbaseError
    └── AiError
        ├── AiNotConfigured             AI_PROVIDER / AI_API_KEY / AI_BASE_URL / a model is missing (503)
        └── AiProviderError             a call to the model provider failed
            ├── AiProviderAuthFailed    provider 401/403 (Gemini: 400 API_KEY_INVALID): our key is wrong (502)
            ├── AiProviderBusy          provider 429 rate limit; carries Retry-After when given (503)
            ├── AiProviderQuotaExhausted  OpenAI 429 insufficient_quota: the account is out of credit (503)
            ├── AiProviderUnavailable   provider 5xx, 529 overloaded, 408; an error event mid-stream (503)
            ├── AiProviderTimeout       no answer in time, or the stream stopped mid-way (503)
            │   ├── AiProviderUnreachable  connection refused, DNS, TLS (503)
            │   └── AiProviderInterrupted  the stream ended or broke before the provider finished (503)
            ├── AiProviderRejected      any other 4xx: the provider refused the request (model name ...) (502)
            └── AiProviderBadResponse   a success status with a body we cannot read (502)

`status` is what the edge answers; `code` is a stable snake_case code for clients. Messages are safe to show
and to log: they never contain our key nor the provider's own message for auth failures (OpenAI echoes a
masked key there). `detail` carries the provider's shortened explanation for logs.
"""

from __future__ import annotations

from thinbase.errors import ThinbaseError


class AiError(ThinbaseError):
    status = 503
    code = "ai_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AiNotConfigured(AiError):
    status = 503
    code = "ai_not_configured"


class AiProviderError(AiError):
    """A provider call failed. `provider_status` is the provider's HTTP status when there was one."""

    status = 502
    code = "ai_provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider_status: int | None = None,
        retry_after: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider_status = provider_status
        self.retry_after = retry_after
        self.detail = detail

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, provider_status={self.provider_status!r}, "
            f"retry_after={self.retry_after!r})"
        )


class AiProviderAuthFailed(AiProviderError):
    status = 502
    code = "ai_provider_auth_failed"


class AiProviderBusy(AiProviderError):
    status = 503
    code = "ai_provider_busy"


class AiProviderQuotaExhausted(AiProviderError):
    status = 503
    code = "ai_provider_quota_exhausted"


class AiProviderUnavailable(AiProviderError):
    status = 503
    code = "ai_provider_unavailable"


class AiProviderTimeout(AiProviderError):
    status = 503
    code = "ai_provider_timeout"


class AiProviderUnreachable(AiProviderTimeout):
    code = "ai_provider_unreachable"


class AiProviderInterrupted(AiProviderTimeout):
    code = "ai_provider_stream_interrupted"


class AiProviderRejected(AiProviderError):
    status = 502
    code = "ai_provider_rejected"


class AiProviderBadResponse(AiProviderError):
    status = 502
    code = "ai_provider_bad_response"
