"""The local gateway's /auth/v1 answers as Supabase Auth (GoTrue) does for the subset it serves: sessions,
refresh-token rotation and reuse, the user endpoints, logout, GoTrue's error codes in both of its error
shapes, and `feature_disabled` for the rest. Real HTTP against the local stack; the tables are read back.
"""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import EdgeServer
from thinbase.cli.main import app
from thinbase.local.stack import LocalStack
from thinbase.tokens import verify_hs256

NEW_SHAPE = {"X-Supabase-Api-Version": "2024-01-01"}
PASSWORD = "correct-horse-battery"


@pytest.fixture
def auth(edge: EdgeServer) -> Iterator[httpx.Client]:
    headers = {"apikey": edge.settings.anon_key, **NEW_SHAPE}
    with httpx.Client(base_url=f"{edge.url}/auth/v1", headers=headers, timeout=30) as client:
        yield client


def new_email() -> str:
    return f"auth-{uuid.uuid4().hex[:12]}@example.test"


def sign_up(auth: httpx.Client, email: str | None = None, **data: Any) -> dict[str, Any]:
    response = auth.post("/signup", json={"email": email or new_email(), "password": PASSWORD, "data": data})
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def refresh(auth: httpx.Client, token: str) -> httpx.Response:
    return auth.post("/token?grant_type=refresh_token", json={"refresh_token": token})


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


def sql(stack: LocalStack, query: str, *params: Any) -> list[dict[str, Any]]:
    with stack.superuser_connection() as conn:
        return conn.execute(query, params).fetchall()


def execute(stack: LocalStack, statement: str, *params: Any) -> None:
    with stack.superuser_connection() as conn:
        conn.execute(statement, params)


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def test_sign_up_stores_the_user_as_supabase_auth_and_starts_a_session(
    auth: httpx.Client, edge: EdgeServer, stack: LocalStack
) -> None:
    email = new_email()
    session = sign_up(auth, email.upper(), full_name="Ada")
    assert session["token_type"] == "bearer"
    assert session["expires_in"] == 3600
    assert len(session["refresh_token"]) == 12
    user = session["user"]
    assert user["email"] == email  # lower-cased, as GoTrue stores it
    assert user["user_metadata"] == {"full_name": "Ada", "email_verified": True}
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["phone"] == ""
    assert user["identities"][0]["provider"] == "email"
    assert user["identities"][0]["identity_data"]["sub"] == user["id"]
    assert "encrypted_password" not in user

    claims = verify_hs256(session["access_token"], edge.settings.jwt_secret, audience="authenticated")
    assert claims["sub"] == user["id"]
    assert claims["exp"] == session["expires_at"]
    assert claims["iss"] == f"{edge.url}/auth/v1"
    assert (claims["role"], claims["aal"], claims["is_anonymous"]) == ("authenticated", "aal1", False)
    assert claims["amr"][0]["method"] == "password"

    [row] = sql(
        stack,
        "select u.encrypted_password, u.email_confirmed_at is not null as confirmed, p.full_name, "
        "s.plan_code, (select count(*) from auth.sessions where user_id = u.id and id::text = %s) as n "
        "from auth.users u join public.profiles p on p.id = u.id "
        "join public.subscriptions s on s.user_id = u.id where u.id = %s",
        claims["session_id"],
        user["id"],
    )
    assert row["encrypted_password"].startswith("$2a$10$")  # bcrypt, GoTrue's cost
    assert (row["confirmed"], row["full_name"], row["plan_code"], row["n"]) == (True, "Ada", "FREE", 1)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "x@example.test"}, 400, "validation_failed"),
        ({"email": "x@example.test", "password": "12345"}, 422, "weak_password"),
        ({"email": "x@example.test", "password": "x" * 73}, 400, "validation_failed"),
        ({"email": "not-an-address", "password": PASSWORD}, 400, "validation_failed"),
        ({"phone": "+15555550100", "password": PASSWORD}, 400, "phone_provider_disabled"),
        ({"password": PASSWORD}, 400, "validation_failed"),
        ({"email": "x@example.test", "password": PASSWORD, "data": "nope"}, 400, "bad_json"),
    ],
)
def test_sign_up_refuses_as_gotrue(auth: httpx.Client, body: dict[str, Any], status: int, code: str) -> None:
    assert error(auth.post("/signup", json=body)) == (status, code)


def test_errors_come_in_both_of_gotrues_shapes(auth: httpx.Client, edge: EdgeServer) -> None:
    email = new_email()
    sign_up(auth, email)
    new = auth.post("/signup", json={"email": email, "password": PASSWORD})
    assert new.json() == {"code": "user_already_exists", "message": "User already registered"}
    assert new.headers["x-supabase-api-version"] == "2024-01-01"
    with httpx.Client(
        base_url=f"{edge.url}/auth/v1", headers={"apikey": edge.settings.anon_key}
    ) as old_client:
        old = old_client.post("/signup", json={"email": email, "password": PASSWORD})
        weak = old_client.post("/signup", json={"email": new_email(), "password": "1"})
    assert old.json() == {"code": 422, "error_code": "user_already_exists", "msg": "User already registered"}
    assert old.headers["x-sb-error-code"] == "user_already_exists"
    assert weak.json()["weak_password"] == {"reasons": ["length"]}
    assert weak.json()["msg"] == "Password should be at least 6 characters."


def test_the_gateway_wants_a_project_key(edge: EdgeServer) -> None:
    with httpx.Client(base_url=f"{edge.url}/auth/v1") as client:
        missing = client.post("/token?grant_type=password", json={})
        forged = client.post("/token?grant_type=password", json={}, headers={"apikey": "nope"})
    assert (missing.status_code, missing.json()) == (401, {"message": "No API key found in request"})
    assert (forged.status_code, forged.json()) == (401, {"message": "Invalid API key"})


def test_password_grant(auth: httpx.Client) -> None:
    email = new_email()
    sign_up(auth, email)
    signed_in = auth.post("/token?grant_type=password", json={"email": email.upper(), "password": PASSWORD})
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["email"] == email
    wrong = auth.post("/token?grant_type=password", json={"email": email, "password": "wrong-password"})
    unknown = auth.post("/token?grant_type=password", json={"email": new_email(), "password": PASSWORD})
    assert (
        wrong.json()
        == unknown.json()
        == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    )
    assert error(auth.post("/token?grant_type=password", json={"password": PASSWORD})) == (
        400,
        "validation_failed",
    )
    assert error(auth.post("/token?grant_type=password", json={"phone": "+1555", "password": "x"})) == (
        422,
        "phone_provider_disabled",
    )
    assert error(auth.post("/token?grant_type=magic", json={})) == (400, "invalid_credentials")
    assert error(auth.post("/token?grant_type=pkce", json={})) == (404, "feature_disabled")


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_session(
    auth: httpx.Client, stack: LocalStack
) -> None:
    session = sign_up(auth)
    first = session["refresh_token"]
    second = refresh(auth, first).json()["refresh_token"]
    assert second != first
    # The replaced token again (a client that lost the answer): the session's current token, no new one.
    assert refresh(auth, first).json()["refresh_token"] == second
    third = refresh(auth, second).json()["refresh_token"]
    # Within the reuse interval (10 s, config.toml) an older token still refreshes (concurrent tabs):
    # a new child, which then rotates like any token.
    sibling = refresh(auth, first)
    assert sibling.status_code == 200
    assert sibling.json()["refresh_token"] not in (first, second, third)
    fourth = refresh(auth, sibling.json()["refresh_token"]).json()["refresh_token"]
    # Past the interval, and no longer the parent of the session's current token: reuse.
    execute(
        stack,
        "update auth.refresh_tokens set updated_at = updated_at - interval '1 minute' where token = %s",
        first,
    )
    reused = refresh(auth, first)
    assert reused.json() == {
        "code": "refresh_token_already_used",
        "message": "Invalid Refresh Token: Already Used",
    }
    # ... and every token of the session was revoked (committed, although the answer is an error).
    rows = sql(
        stack,
        "select count(*) as n, bool_and(revoked) as all_revoked from auth.refresh_tokens "
        "where token in (%s, %s)",
        third,
        fourth,
    )
    assert rows == [{"n": 2, "all_revoked": True}]
    parents = sql(stack, "select parent from auth.refresh_tokens where token = %s", third)
    assert parents == [{"parent": second}]


def test_refresh_errors(auth: httpx.Client) -> None:
    assert auth.post("/token?grant_type=refresh_token", json={}).json() == {
        "error": "invalid_request",
        "error_description": "refresh_token required",
    }
    assert error(refresh(auth, "short")) == (400, "validation_failed")
    assert error(refresh(auth, "ABCDEFGHIJKL")) == (400, "validation_failed")
    assert error(refresh(auth, "zzzzzzzzzzzz")) == (400, "refresh_token_not_found")


def test_concurrent_refreshes_of_one_token_issue_one_child(auth: httpx.Client, stack: LocalStack) -> None:
    token = sign_up(auth)["refresh_token"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: refresh(auth, token), range(8)))
    assert {a.status_code for a in answers} == {200}
    children = {a.json()["refresh_token"] for a in answers}
    assert len(children) == 1
    assert sql(stack, "select count(*) as n from auth.refresh_tokens where parent = %s", token) == [{"n": 1}]


def test_get_and_update_the_user(auth: httpx.Client, stack: LocalStack) -> None:
    email = new_email()
    session = sign_up(auth, email, full_name="Ada", theme="dark")
    other = auth.post("/token?grant_type=password", json={"email": email, "password": PASSWORD}).json()
    assert auth.get("/user", headers=bearer(session)).json()["id"] == session["user"]["id"]
    assert error(auth.get("/user")) == (401, "no_authorization")
    assert error(auth.get("/user", headers={"Authorization": "Bearer not.a.jwt"})) == (403, "bad_jwt")

    merged = auth.put("/user", headers=bearer(session), json={"data": {"theme": None, "locale": "en"}})
    assert merged.json()["user_metadata"] == {"full_name": "Ada", "locale": "en", "email_verified": True}
    assert error(auth.put("/user", headers=bearer(session), json={"password": "123"})) == (
        422,
        "weak_password",
    )
    assert error(auth.put("/user", headers=bearer(session), json={"password": PASSWORD})) == (
        422,
        "same_password",
    )
    assert error(auth.put("/user", headers=bearer(session), json={"email": new_email()})) == (
        404,
        "feature_disabled",
    )
    assert auth.put("/user", headers=bearer(session), json={"email": email}).status_code == 200  # unchanged
    assert error(auth.put("/user", headers=bearer(session), json={"app_metadata": {"x": 1}})) == (
        403,
        "not_admin",
    )

    changed = auth.put("/user", headers=bearer(session), json={"password": "a-new-password"})
    assert changed.status_code == 200
    old = auth.post("/token?grant_type=password", json={"email": email, "password": PASSWORD})
    assert error(old) == (400, "invalid_credentials")
    assert (
        auth.post(
            "/token?grant_type=password", json={"email": email, "password": "a-new-password"}
        ).status_code
        == 200
    )
    # A new password ends the user's other sessions, not this one.
    assert error(refresh(auth, other["refresh_token"])) == (400, "refresh_token_not_found")
    assert refresh(auth, session["refresh_token"]).status_code == 200


def test_logout_scopes(auth: httpx.Client) -> None:
    email = new_email()
    first = sign_up(auth, email)

    def sign_in() -> dict[str, Any]:
        answer: dict[str, Any] = auth.post(
            "/token?grant_type=password", json={"email": email, "password": PASSWORD}
        ).json()
        return answer

    second, third = sign_in(), sign_in()
    assert error(auth.post("/logout?scope=everything", headers=bearer(first))) == (400, "validation_failed")
    assert auth.post("/logout?scope=local", headers=bearer(first)).status_code == 204
    assert error(refresh(auth, first["refresh_token"])) == (400, "refresh_token_not_found")
    assert error(auth.get("/user", headers=bearer(first))) == (403, "session_not_found")
    assert auth.get("/user", headers=bearer(second)).status_code == 200
    assert auth.post("/logout?scope=others", headers=bearer(second)).status_code == 204
    assert error(refresh(auth, third["refresh_token"])) == (400, "refresh_token_not_found")
    assert refresh(auth, second["refresh_token"]).status_code == 200
    assert auth.post("/logout", headers=bearer(second)).status_code == 204  # global
    assert error(auth.get("/user", headers=bearer(second))) == (403, "session_not_found")


def test_everything_else_is_feature_disabled(auth: httpx.Client) -> None:
    for method, path in (("POST", "/otp"), ("POST", "/recover"), ("GET", "/authorize"), ("DELETE", "/user")):
        response = auth.request(method, path, json={} if method == "POST" else None)
        assert error(response) == (404, "feature_disabled")
        assert "supabase start" in response.json()["message"]


def test_local_user_token_prints_a_token_for_a_new_session(
    auth: httpx.Client, edge: EdgeServer, stack: LocalStack
) -> None:
    email = new_email()
    sign_up(auth, email, full_name="Ada")
    result = CliRunner().invoke(app, ["local", "user", "token", email.upper(), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    claims = verify_hs256(data["access_token"], stack.state().jwt_secret, audience="authenticated")
    assert (claims["email"], claims["user_metadata"]["full_name"]) == (email, "Ada")
    assert sql(
        stack, "select count(*) as n from auth.sessions where id::text = %s", claims["session_id"]
    ) == [{"n": 1}]
    token = {"Authorization": f"Bearer {data['access_token']}"}
    assert auth.get("/user", headers=token).json()["email"] == email
    with httpx.Client(
        base_url=f"{edge.url}/rest/v1", headers={"apikey": edge.settings.anon_key, **token}
    ) as rest:
        assert rest.get("/profiles?select=full_name").json() == [{"full_name": "Ada"}]
    missing = CliRunner().invoke(app, ["local", "user", "token", new_email()])
    assert missing.exit_code == 3
