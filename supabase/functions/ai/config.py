"""Which AI provider to call, from AI_PROVIDER, AI_BASE_URL, AI_API_KEY and AI_MODEL (DESIGN.md).

AI_PROVIDER:
- `openai`: OpenAI, or any OpenAI-compatible endpoint given in AI_BASE_URL (default https://api.openai.com/v1);
- `openai-compatible`: the same client, AI_BASE_URL required (a local server, a gateway);
- `gemini`: Gemini's OpenAI-compatible endpoint (AI_BASE_URL defaults to it);
- `anthropic`: Anthropic Messages (AI_BASE_URL default https://api.anthropic.com).
The value (normalised) is what ai_usage.provider records. AI_MODEL is the default model: a plan's own
`ai_model` wins, so AI_MODEL may be empty when every plan names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from thinbase.errors import AiNotConfigured
from thinbase.settings import Settings

from .anthropic import ANTHROPIC_BASE_URL, AnthropicMessages
from .base import ChatProvider
from .openai_compat import GEMINI_OPENAI_BASE_URL, OPENAI_BASE_URL, OpenAICompatible

_ALIASES = {
    "openai": "openai",
    "openai-compatible": "openai-compatible",
    "openai_compatible": "openai-compatible",
    "gemini": "gemini",
    "anthropic": "anthropic",
}
AI_PROVIDERS: tuple[str, ...] = tuple(dict.fromkeys(_ALIASES.values()))  # what AI_PROVIDER may name
_DEFAULT_BASE_URLS = {
    "openai": OPENAI_BASE_URL,
    "gemini": GEMINI_OPENAI_BASE_URL,
    "anthropic": ANTHROPIC_BASE_URL,
}


@dataclass(frozen=True)
class AiConfig:
    provider: str
    base_url: str
    api_key: str = ""
    model: str = ""

    def __repr__(self) -> str:  # never show the key
        return f"AiConfig(provider={self.provider!r}, base_url={self.base_url!r}, model={self.model!r})"


def ai_config(settings: Settings) -> AiConfig:
    """The configured provider, or AiNotConfigured saying what is missing."""
    raw = settings.get("AI_PROVIDER").strip().lower()
    if not raw:
        raise AiNotConfigured("AI is not configured here (AI_PROVIDER is not set).")
    provider = _ALIASES.get(raw)
    if provider is None:
        raise AiNotConfigured(f"AI_PROVIDER must be one of {', '.join(AI_PROVIDERS)}.")
    api_key = settings.get("AI_API_KEY").strip()
    if not api_key:
        raise AiNotConfigured("AI is not configured here (AI_API_KEY is not set).")
    base_url = settings.get("AI_BASE_URL").strip() or _DEFAULT_BASE_URLS.get(provider, "")
    if not base_url:
        raise AiNotConfigured("AI is not configured here (AI_BASE_URL is required for openai-compatible).")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise AiNotConfigured("AI_BASE_URL must be an http(s) URL.")
    return AiConfig(provider, base_url.rstrip("/"), api_key, settings.get("AI_MODEL").strip())


def build_provider(config: AiConfig, http: httpx.AsyncClient) -> ChatProvider:
    if config.provider == "anthropic":
        return AnthropicMessages(http, base_url=config.base_url, api_key=config.api_key, name=config.provider)
    # OpenAI itself wants max_completion_tokens (its reasoning models refuse max_tokens); compatible servers
    # (Gemini's endpoint, vLLM, llama.cpp, Ollama …) reliably know max_tokens.
    on_openai = urlsplit(config.base_url).hostname == "api.openai.com"
    return OpenAICompatible(
        http,
        base_url=config.base_url,
        api_key=config.api_key,
        name=config.provider,
        token_parameter="max_completion_tokens" if on_openai else "max_tokens",
    )
