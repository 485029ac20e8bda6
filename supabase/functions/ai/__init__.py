"""AI endpoints: POST /ai/chat (optionally streamed as SSE) and POST /ai/generate, metered against the
user's plan with reserve_ai_usage / commit_ai_usage.

Modules: `config` (which provider, from AI_*), `base` (types, HTTP, error mapping, SSE reading),
`openai_compat` (OpenAI, Gemini's compatible endpoint, local servers), `anthropic` (Messages),
`validation` (request bodies), `metering` (estimate, reserve, commit), `endpoints` (the handlers).
"""

from thinbase.functions.ai.endpoints import routes

__all__ = ["routes"]
