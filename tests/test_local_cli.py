"""`thinbase local …` against the real local stack, through Typer's CliRunner."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from thinbase.cli.main import app
from thinbase.local.stack import LocalStack, _port_is_free
from thinbase.tokens import verify_hs256

runner = CliRunner()


def test_env_prints_plain_key_value_lines(stack: LocalStack) -> None:
    result = runner.invoke(app, ["local", "env"], env={"THINBASE_PORT": "54999"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    values = dict(line.split("=", 1) for line in lines)
    assert list(values) == [
        "DATABASE_URL",
        "SUPABASE_URL",
        "SUPABASE_JWT_SECRET",
        "SUPABASE_ANON_KEY",
        "SUPABASE_SERVICE_ROLE_KEY",
    ]
    assert not any(line.startswith("export ") for line in lines)
    assert values["SUPABASE_URL"] == "http://127.0.0.1:54999"
    assert values["DATABASE_URL"].startswith("postgresql://authenticator:")
    secret = values["SUPABASE_JWT_SECRET"]
    assert verify_hs256(values["SUPABASE_ANON_KEY"], secret)["role"] == "anon"
    assert verify_hs256(values["SUPABASE_SERVICE_ROLE_KEY"], secret)["role"] == "service_role"


def test_env_json_is_the_same_values_in_the_envelope(stack: LocalStack) -> None:
    plain = runner.invoke(app, ["local", "env"], env={"THINBASE_PORT": "54999"})
    result = runner.invoke(app, ["local", "env", "--json"], env={"THINBASE_PORT": "54999"})
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is True
    assert envelope["data"] == dict(line.split("=", 1) for line in plain.stdout.strip().splitlines())


def test_status_json_reports_a_running_stack(stack: LocalStack) -> None:
    result = runner.invoke(app, ["local", "status", "--json"])
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is True
    data = envelope["data"]
    assert data["running"] is True
    assert data["platform_current"] is True
    assert data["latest_migration"] == stack.applied_migrations()[-1]["version"]


def test_up_is_idempotent(stack: LocalStack) -> None:
    before = stack.applied_migrations()
    state = stack.up()
    assert stack.applied_migrations() == before
    assert state.port == stack.state().port


def test_user_create_signs_up_and_prints_a_token(stack: LocalStack) -> None:
    email = f"Signup-{uuid.uuid4().hex[:8]}@Example.test"
    result = runner.invoke(app, ["local", "user", "create", email, "--name", "Ada", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    claims = verify_hs256(data["access_token"], stack.state().jwt_secret, audience="authenticated")
    assert claims["sub"] == data["id"]
    assert claims["email"] == email.lower()
    assert claims["role"] == "authenticated"
    assert claims["user_metadata"] == {"full_name": "Ada"}
    for claim in ("aal", "session_id", "is_anonymous", "app_metadata", "phone", "iat", "exp"):
        assert claim in claims
    with stack.superuser_connection() as conn:
        row = conn.execute(
            "select aud, role, email_confirmed_at is not null as confirmed, confirmed_at is not null as gen, "
            "raw_app_meta_data from auth.users where id = %s",
            (data["id"],),
        ).fetchone()
    assert row == {
        "aud": "authenticated",
        "role": "authenticated",
        "confirmed": True,
        "gen": True,
        "raw_app_meta_data": {"provider": "email", "providers": ["email"]},
    }
    again = runner.invoke(app, ["local", "user", "create", email])
    assert again.exit_code == 1
    assert "already exists" in again.stderr


def test_user_create_plain_output_is_just_the_token(stack: LocalStack) -> None:
    email = f"plain-{uuid.uuid4().hex[:8]}@example.test"
    result = runner.invoke(app, ["local", "user", "create", email])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert verify_hs256(token, stack.state().jwt_secret)["email"] == email


def test_user_create_rejects_a_non_email(stack: LocalStack) -> None:
    result = runner.invoke(app, ["local", "user", "create", "not-an-email"])
    assert result.exit_code == 2
    assert "not an email address" in result.stderr


def test_the_local_keys_stay_the_same_for_the_life_of_the_stack(stack: LocalStack) -> None:
    """Every `local env` and every `serve` used to mint new keys (iat = now), which the app then refused
    by exact match: a frontend's .env.local broke on each restart."""
    def printed() -> dict[str, str]:
        lines = CliRunner().invoke(app, ["local", "env"]).stdout.splitlines()
        return dict(line.split("=", 1) for line in lines)

    first = printed()
    time.sleep(1.1)  # a key with iat would differ by now
    second = printed()
    assert first["SUPABASE_ANON_KEY"] == second["SUPABASE_ANON_KEY"]
    assert first["SUPABASE_SERVICE_ROLE_KEY"] == second["SUPABASE_SERVICE_ROLE_KEY"]
    assert LocalStack().env(1)["SUPABASE_ANON_KEY"] == first["SUPABASE_ANON_KEY"]


def _thinbase(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    import os
    import subprocess
    import sys

    return subprocess.run(
        [str(Path(sys.executable).parent / "thinbase"), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_status_of_a_stack_that_is_not_running_says_so_and_fails(tmp_path: Path) -> None:
    """It used to exit 1 with `"ok": true`, and plain with no message at all."""
    elsewhere = {"THINBASE_LOCAL_DIR": str(tmp_path / "none")}
    as_json = _thinbase("local", "status", "--json", env=elsewhere)
    assert as_json.returncode == 1
    answer = json.loads(as_json.stdout)
    assert answer["ok"] is False
    assert answer["data"]["running"] is False
    assert "not running" in answer["error"]["message"]
    plain = _thinbase("local", "status", env=elsewhere)
    assert plain.returncode == 1
    assert "not running" in plain.stderr
    assert "thinbase local up" in plain.stderr


def test_serve_on_a_busy_port_fails_before_printing_anything(stack: LocalStack) -> None:
    """A second `serve` used to print URLs and keys as if serving, then die with Errno 98."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _thinbase("serve", "--local", "--port", str(port), timeout=60)
    assert result.returncode == 1
    said = " ".join(result.stderr.split())
    assert f"127.0.0.1:{port} is already in use" in said
    assert "THINBASE_PORT" in said
    assert "SUPABASE_ANON_KEY" not in result.stderr + result.stdout


def test_keys_and_urls_are_never_wrapped_off_a_terminal(stack: LocalStack) -> None:
    """Rich wrapped `serve --local`'s lines at 80 columns in a pipe: a copied key was broken."""
    import os
    import select
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "thinbase"), "serve", "--local", "--port", str(port)],
        env={**os.environ, "COLUMNS": "80"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert server.stderr is not None
        deadline = time.monotonic() + 30
        while not any(line.startswith("• SUPABASE_SERVICE_ROLE_KEY=") for line in lines):
            ready, _, _ = select.select([server.stderr], [], [], max(deadline - time.monotonic(), 0))
            assert ready, f"serve printed no keys within 30 s: {lines}"
            line = server.stderr.readline()
            assert line, f"serve ended before printing its keys: {lines}"
            lines.append(line.rstrip("\n"))
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)  # waits, and closes the pipes
    expected = LocalStack().env(port)
    printed = dict(line.removeprefix("• ").split("=", 1) for line in lines if line.startswith("• SUPABASE_"))
    assert printed["SUPABASE_ANON_KEY"] == expected["SUPABASE_ANON_KEY"]
    assert printed["SUPABASE_SERVICE_ROLE_KEY"] == expected["SUPABASE_SERVICE_ROLE_KEY"]
def test_a_port_left_in_time_wait_is_free_and_a_listening_one_is_not() -> None:
    """After `local down`, connections PostgreSQL closed first linger in TIME_WAIT on its port; `local up`
    must still find the port free (PostgreSQL binds with SO_REUSEADDR) and keep it, while a port another
    server listens on stays taken."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        assert not _port_is_free(port)
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first: its end goes to TIME_WAIT on `port`
            client.recv(1)  # the client sees the close, then closes its end
    assert _port_is_free(port)
