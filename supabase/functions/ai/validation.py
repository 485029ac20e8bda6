"""Request bodies of /ai/chat and /ai/generate, checked before anything is reserved or sent.

Limits keep one request's hold and cost bounded: at most MAX_MESSAGES messages and MAX_PROMPT_CHARS
characters of content in all (~16k tokens), max_tokens between 1 and MAX_OUTPUT_TOKENS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from thinbase.errors import HttpError

from .base import ChatMessage, Role
from .metering import estimate_tokens

MAX_BODY_BYTES = 512 * 1024  # JSON escaping can double the size of MAX_PROMPT_CHARS of text
MAX_MESSAGES = 100
MAX_PROMPT_CHARS = 64_000
DEFAULT_MAX_TOKENS = 1024
MAX_OUTPUT_TOKENS = 4096
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Prompt:
    messages: tuple[ChatMessage, ...]
    max_tokens: int
    stream: bool = False

    @property
    def chars(self) -> int:
        return sum(len(m.content) for m in self.messages)

    @property
    def estimated_tokens(self) -> int:
        return estimate_tokens(self.chars, self.max_tokens)


def _bad(code: str, message: str) -> HttpError:
    return HttpError(400, code, message)


def _max_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_tokens")
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_OUTPUT_TOKENS:
        raise _bad("invalid_max_tokens", f"`max_tokens` must be an integer from 1 to {MAX_OUTPUT_TOKENS}.")
    return value


def _check_size(messages: tuple[ChatMessage, ...]) -> None:
    if sum(len(m.content) for m in messages) > MAX_PROMPT_CHARS:
        raise _bad("prompt_too_long", f"The prompt may be at most {MAX_PROMPT_CHARS} characters in all.")


def parse_chat(body: dict[str, Any]) -> Prompt:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("invalid_messages", "`messages` must be a non-empty list of {role, content}.")
    if len(raw) > MAX_MESSAGES:
        raise _bad("invalid_messages", f"At most {MAX_MESSAGES} messages.")
    messages: list[ChatMessage] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _bad("invalid_messages", f"messages[{index}] must be an object with role and content.")
        role, content = item.get("role"), item.get("content")
        if role not in ROLES:
            raise _bad("invalid_messages", f"messages[{index}].role must be one of {', '.join(ROLES)}.")
        if not isinstance(content, str) or not content.strip():
            raise _bad("invalid_messages", f"messages[{index}].content must be a non-empty string.")
        messages.append(ChatMessage(cast(Role, role), content))
    conversation = [m for m in messages if m.role != "system"]
    # Anthropic requires the conversation to open with the user; it is what every chat looks like anyway.
    if not conversation or conversation[0].role != "user":
        raise _bad("invalid_messages", "The first message after any system messages must be from the user.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("invalid_stream", "`stream` must be true or false.")
    result = tuple(messages)
    _check_size(result)
    return Prompt(result, _max_tokens(body), stream)


def parse_generate(body: dict[str, Any]) -> Prompt:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _bad("invalid_prompt", "`prompt` must be a non-empty string.")
    messages = (ChatMessage("user", prompt),)
    _check_size(messages)
    return Prompt(messages, _max_tokens(body))
