"""How the edge app is served: the one uvicorn configuration behind `thinbase serve` (and so the Docker
image, whose CMD is `thinbase serve`), the test suite's servers and the benchmark's.

- `proxy_headers=False`. uvicorn's default trusts X-Forwarded-For and X-Forwarded-Proto from the hosts in
  FORWARDED_ALLOW_IPS (127.0.0.1 and ::1 unless set) and rewrites the client address from them: a reverse
  proxy on the same host, or any local process, then hands the app a client-chosen address, and every
  per-IP limit is one forged header away. TRUSTED_PROXY_HEADER (`_shared/client_ip.py`) is the only way a
  header sets the client IP. `forwarded_allow_ips=[]` as well, so FORWARDED_ALLOW_IPS in the environment
  is not even read.
- `access_log=False`. RequestLogMiddleware's JSON line (with the request id) is the access log; uvicorn's
  would print every query string, signed storage URL tokens included.
- uvicorn's own handlers (startup messages, errors) pass every record through RedactFilter.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import uvicorn
import uvicorn.config
from starlette.types import ASGIApp

from thinbase.functions._shared.logging import RedactFilter


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with RedactFilter on each of its handlers."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactFilter}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact"]
    return config


def uvicorn_config(app: ASGIApp, *, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """The configuration every server of the edge app uses (see the module docstring)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(),
        access_log=False,
        proxy_headers=False,
        forwarded_allow_ips=[],
    )


def serve(app: ASGIApp, *, host: str, port: int) -> bool:
    """Serve in the foreground until Ctrl-C or SIGTERM; False when the server could not start."""
    server = uvicorn.Server(uvicorn_config(app, host=host, port=port))
    # uvicorn re-raises the SIGINT it handled once it has shut down.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return server.started
