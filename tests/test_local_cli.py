"""`thinbase local …` against the real local stack, through Typer's CliRunner."""

from __future__ import annotations

import json
import socket
import uuid

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
