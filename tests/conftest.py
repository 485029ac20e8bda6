"""Shared fixtures: the local stack (started once per run, or reused), the database port, users, and an
edge app served by uvicorn on a free loopback port for tests that need real HTTP.

Isolation: tests never depend on each other's data. Each test creates its own users (unique emails) and
keys; tests that only read use the transaction-per-call port, which leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.functions._shared.serving import uvicorn_config
from thinbase.functions.app import create_app
from thinbase.local.stack import LocalStack
from thinbase.settings import Settings, load_settings
from thinbase.tokens import verify_hs256

SQL_DIR = Path(__file__).parent / "sql"


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    local = LocalStack()
    local.up()
    local.install_test_helpers()
    for path in sorted(SQL_DIR.glob("*.sql")):
        local.psql_file(path)
    yield local
    for path in sorted((SQL_DIR / "teardown").glob("*.sql")):
        local.psql_file(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def db(stack: LocalStack) -> Iterator[PsycopgDatabase]:
    database = PsycopgDatabase(stack.authenticator_url(), max_size=40)
    yield database
    database.close()


@dataclass
class User:
    id: str
    email: str
    token: str
    claims: dict[str, Any]

    @property
    def caller(self) -> Caller:
        return Caller.user(self.claims, token=self.token)


@pytest.fixture(scope="session")
def make_user(stack: LocalStack) -> Callable[..., User]:
    secret = stack.state().jwt_secret

    def create(prefix: str = "user", **metadata: Any) -> User:
        email = f"{prefix}-{uuid.uuid4().hex[:12]}@example.test"
        row = stack.create_user(email, metadata=metadata or None)
        token = stack.user_token(row)
        return User(id=str(row["id"]), email=email, token=token, claims=verify_hs256(token, secret))

    return create


@dataclass
class EdgeServer:
    url: str
    settings: Settings


@contextlib.contextmanager
def serve_edge(stack: LocalStack, **extra_env: str) -> Iterator[EdgeServer]:
    """The edge app on uvicorn on a free port, configured as `thinbase serve --local` would be, plus the
    test suite's THINBASE_EXPOSE_TESTS_SCHEMA and `extra_env` (provider keys pointing at local fakes, ...;
    THINBASE_EXPOSE_TESTS_SCHEMA="" turns the tests schema off)."""
    port = free_port()
    settings = load_settings(env={**stack.env(port), "THINBASE_EXPOSE_TESTS_SCHEMA": "1", **extra_env})
    server = uvicorn.Server(
        uvicorn_config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("edge app did not start")
        time.sleep(0.05)
    try:
        yield EdgeServer(url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def edge(stack: LocalStack) -> Iterator[EdgeServer]:
    with serve_edge(stack) as server:
        yield server


@pytest.fixture
def http(edge: EdgeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=edge.url, timeout=30) as client:
        yield client
