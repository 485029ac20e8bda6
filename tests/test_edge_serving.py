"""The edge app as `thinbase serve --local` really serves it: a separate process, real uvicorn, real HTTP.

What only the served process shows: which client address the app sees (uvicorn's proxy-header handling
would rewrite it), which schemas the local gateway exposes outside the test suite (`make dev` runs exactly
this command), the headers on every response, and what ends up in the log (uvicorn's access log and ours).
The process runs with FORWARDED_ALLOW_IPS=* in its environment, the uvicorn setting that would make it
trust X-Forwarded-For from anyone: `thinbase serve` must ignore it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import User, free_port
from tests.rate_windows import within_one_window
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.local.stack import LocalStack

THINBASE = Path(sys.executable).parent / "thinbase"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# Settings a developer's shell might carry; the served process gets only what `serve --local` derives.
_SETTINGS_PREFIXES = ("SUPABASE_", "THINBASE_", "TRUSTED_PROXY_HEADER", "DATABASE_URL", "RESEND_", "EMAIL_")


@dataclass
class Served:
    url: str
    anon_key: str
    log: Path

    def log_text(self) -> str:
        time.sleep(0.3)  # the access log line is written after the response is sent
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def served(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("serve")  # no stray .env in the working directory
    log = workdir / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES)}
    env["FORWARDED_ALLOW_IPS"] = "*"
    env["COLUMNS"] = "1000"  # rich wraps the printed keys at 80 columns off a terminal
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(THINBASE), "serve", "--local", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"thinbase serve did not start:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # The keys carry their issue time: take the ones the process printed, as a developer would.
        printed = dict(
            line.removeprefix("• ").split("=", 1)
            for line in log.read_text(errors="replace").splitlines()
            if line.startswith("• SUPABASE_")
        )
        yield Served(url=url, anon_key=printed["SUPABASE_ANON_KEY"], log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _reset_contact_bucket(db: PsycopgDatabase, subject: str) -> None:
    db.rpc("admin_reset_rate_limit", {"namespace": "contact", "subject": subject}, caller=Caller.service())


def test_a_forged_x_forwarded_for_does_not_change_the_client_ip(served: Served, db: PsycopgDatabase) -> None:
    """Five messages from 127.0.0.1 use up the contact limit; a sixth claiming to come from
    10.200.x.y in X-Forwarded-For is still 127.0.0.1 (no TRUSTED_PROXY_HEADER is set) and gets 429."""
    _reset_contact_bucket(db, "127.0.0.1")
    within_one_window(3600)
    try:
        body = {"name": "Mallory", "email": "mallory@example.test", "message": "again"}
        for _ in range(5):
            assert httpx.post(f"{served.url}/contact", json=body, timeout=30).status_code == 202
        assert httpx.post(f"{served.url}/contact", json=body, timeout=30).status_code == 429
        forged_ip = f"10.200.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
        forged = httpx.post(
            f"{served.url}/contact", json=body, headers={"X-Forwarded-For": forged_ip}, timeout=30
        )
        assert forged.status_code == 429, forged.text
        assert forged.json()["error"]["code"] == "rate_limited"
        bucket = db.rpc(
            "operator_get_rate_limit",
            {"namespace": "contact", "subject": forged_ip},
            caller=Caller.service(),
        )
        assert bucket == [], "the forged address got a bucket of its own"
    finally:
        _reset_contact_bucket(db, "127.0.0.1")


def test_the_dockerfile_serves_through_thinbase_serve() -> None:
    """The container runs `thinbase serve` (so the proxy-header settings above apply there too) and sets
    none of uvicorn's own proxy variables."""
    lines = (Path(__file__).parents[1] / "Dockerfile").read_text().splitlines()
    instructions = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert instructions[-1] == 'CMD ["thinbase", "serve"]'
    for name in ("FORWARDED_ALLOW_IPS", "UVICORN_", "proxy-headers", "forwarded-allow-ips"):
        assert not [line for line in instructions if name in line], name


def test_serve_local_does_not_expose_the_tests_schema(served: Served, stack: LocalStack) -> None:
    """Outside the test suite, `Content-Profile: tests` is PostgREST's 406 for an unexposed
    schema, so the anon key cannot reach tests.create_supabase_user (an auth user with any email)."""
    email = f"admin-{uuid.uuid4().hex[:10]}@example.test"
    headers = {"apikey": served.anon_key, "Authorization": f"Bearer {served.anon_key}"}
    created = httpx.post(
        f"{served.url}/rest/v1/rpc/create_supabase_user",
        json={"identifier": email, "email": email},
        headers={**headers, "Content-Profile": "tests"},
        timeout=30,
    )
    assert created.status_code == 406, created.text
    assert created.json() == {
        "code": "PGRST106",
        "message": "Invalid schema: tests",
        "details": None,
        "hint": "Only the following schemas are exposed: public",
    }
    read = httpx.get(
        f"{served.url}/rest/v1/rpc/get_supabase_uid",
        params={"identifier": email},
        headers={**headers, "Accept-Profile": "tests"},
        timeout=30,
    )
    assert (read.status_code, read.json()["code"]) == (406, "PGRST106")
    with stack.superuser_connection() as conn:
        found = conn.execute("select count(*) as n from auth.users where email = %s", (email,)).fetchone()
    assert found is not None
    assert found["n"] == 0
    # public stays exposed
    catalog = httpx.post(
        f"{served.url}/rest/v1/rpc/plan_catalog", json={}, headers={**headers, "Content-Profile": "public"}
    )
    assert catalog.status_code == 200, catalog.text


def _upload_and_link(served: Served, user: User) -> tuple[str, str]:
    """Upload an avatar for `user` through the served app; returns (upload URL, download URL)."""
    auth = {"Authorization": f"Bearer {user.token}"}
    signed = httpx.post(
        f"{served.url}/profile/avatar", json={"fileSize": len(PNG), "fileType": "image/png"}, headers=auth
    )
    assert signed.status_code == 200, signed.text
    upload_url = signed.json()["upload_url"]
    assert httpx.put(upload_url, content=PNG, headers={"Content-Type": "image/png"}).status_code == 200
    link = httpx.get(f"{served.url}/profile/avatar", headers=auth)
    assert link.status_code == 200, link.text
    return upload_url, str(link.json()["url"])


def test_signed_avatar_urls_leave_no_token_in_the_log(served: Served, make_user: Callable[..., User]) -> None:
    """The signed upload and download URLs carry their token in the query string; neither
    uvicorn's access log nor ours may write it down. Our access log still records the request."""
    user = make_user("logged")
    upload_url, download_url = _upload_and_link(served, user)
    fetched = httpx.get(download_url)
    assert fetched.status_code == 200
    tokens = [httpx.URL(u).params["token"] for u in (upload_url, download_url)]
    text = served.log_text()
    assert f"/storage/v1/object/sign/avatars/{user.id}/avatar" in text  # the download was logged
    for token in tokens:
        assert token not in text
        # not even the JWT's signature part on its own
        assert token.rsplit(".", 1)[-1] not in text


def test_every_response_says_nosniff(served: Served, make_user: Callable[..., User]) -> None:
    """A stored avatar is served with the type its upload claimed; browsers must not sniff a
    different one (HTML stored as image/png). Every response of the app carries nosniff."""
    _, download_url = _upload_and_link(served, make_user("sniff"))
    fetched = httpx.get(download_url)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers.get("x-content-type-options") == "nosniff"
    for response in (
        httpx.get(f"{served.url}/health"),
        httpx.get(f"{served.url}/nope"),
        httpx.post(f"{served.url}/rest/v1/rpc/plan_catalog", json={}),  # a PostgREST-shaped 401
    ):
        assert response.headers.get("x-content-type-options") == "nosniff", response.url
