"""Secrets in query strings (signed storage URLs, API keys in links) never reach a log line: our JSON lines
and uvicorn's own handlers redact them. The served process is checked end to end in test_edge_serving.py;
here the redaction itself, on real records through the real formatters."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette

from thinbase.functions._shared.logging import JsonFormatter, redact
from thinbase.functions._shared.serving import uvicorn_config

SECRET = "eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6ImRvd25sb2FkIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "line",
    [
        f"GET /storage/v1/object/sign/avatars/u/avatar?token={SECRET}",
        f"PUT /storage/v1/object/upload/sign/avatars/u/avatar?x=1&token={SECRET}&y=2",
        f"https://example.test/cb?access_token={SECRET}#frag",
        f"/auth/v1/verify?type=signup&refresh_token={SECRET}",
        f"/rest/v1/rpc/health?apikey={SECRET}",
        f"/x?API_KEY={SECRET}",
        f"/s3/obj?X-Amz-Signature={SECRET}&X-Amz-Credential={SECRET}",
        f"/webhook?signature={SECRET}",
        f'"GET /a?Token={SECRET} HTTP/1.1" 200',
        f"/a?secret={SECRET};other=1",
    ],
)
def test_token_like_parameters_are_redacted(line: str) -> None:
    cleaned = redact(line)
    assert SECRET not in cleaned
    assert "REDACTED" in cleaned


def test_other_parameters_and_paths_stay() -> None:
    line = "GET /storage/v1/object/sign/avatars/u/avatar?download=1&width=64 HTTP/1.1"
    assert redact(line) == line
    assert redact("the token is checked") == "the token is checked"


def test_our_json_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "thinbase.http", logging.INFO, __file__, 1, "%s %s", ("GET", f"/p?token={SECRET}"), None
    )
    record.url = f"https://cdn.example.test/o?signature={SECRET}"
    line = JsonFormatter().format(record)
    assert SECRET not in line
    assert "/p?token=REDACTED" in line


def test_uvicorns_handlers_redact() -> None:
    """uvicorn's access log is off (ours is the access log); its other handlers filter what they print,
    formatted by uvicorn's own formatters."""
    config = uvicorn_config(Starlette(), host="127.0.0.1", port=1)
    assert config.proxy_headers is False
    assert config.access_log is False
    assert logging.getLogger("uvicorn.access").handlers == []
    handlers = logging.getLogger("uvicorn").handlers
    assert handlers
    record = logging.LogRecord(
        "uvicorn.error",
        logging.WARNING,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/storage/v1/object/sign/avatars/u/avatar?token={SECRET}", "1.1", 200),
        None,
    )
    for handler in handlers:
        assert handler.filter(record)
        assert SECRET not in handler.format(record)
