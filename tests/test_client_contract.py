"""The local stack as a frontend sees it: the same calls through supabase-js (node, tests/js/) and supabase-py
against one served edge app — sign up, sign in, refresh (rotation, reuse), read the own profile,
subscription and payments, fail to read another user's rows, update the own name, sign out.

Both clients' outcomes must equal EXPECTED, so two clients that agree on a wrong answer still fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from postgrest.exceptions import APIError
from postgrest.types import CountMethod
from supabase_auth.errors import AuthApiError, CustomAuthError

from supabase import Client, ClientOptions, create_client
from tests.conftest import EdgeServer, User
from thinbase.local.stack import LocalStack

SCRIPT = Path(__file__).parent / "js" / "client_contract.mjs"
PASSWORD = "correct-horse-battery"

EXPECTED_MAIN: dict[str, Any] = {
    "sign_up": {"error": None, "has_session": True, "full_name": "Ada"},
    "sign_up_again": {"code": "user_already_exists", "status": 422},
    "weak_password": {"code": "weak_password", "status": 422},
    "wrong_password": {"code": "invalid_credentials", "status": 400},
    "sign_in": {"error": None, "same_user": True},
    "refresh": {"error": None, "rotated": True},
    "refresh_replaced_again": {"error": None, "same_as_current": True},
    "refresh_again": {"error": None, "rotated": True},
    "own_profile": {"error": None, "full_name": "Ada", "mine": True},
    "own_subscription": {"error": None, "data": {"plan_code": "FREE", "status": "active"}},
    "own_payments": {"error": None, "rows": 0, "count": 0},
    "other_user_rows": {"errors": [None, None], "rows": 0},
    "other_profile_single": {"code": "PGRST116"},
    "update_own_name": {"error": None, "full_name": "Ada Lovelace"},
    "update_other_name": {"error": None, "rows": 0},
    "update_avatar_column": {"code": "42501"},
    "unsupported_filter": {"code": "PGRST100"},
    "get_user": {"error": None},
    "update_user": {"error": None, "locale": "en"},
}
EXPECTED_REUSE: dict[str, Any] = {
    "reuse_rotated": {"code": "refresh_token_already_used", "status": 400},
    "sign_out": None,
    "refresh_after_sign_out": {"code": "refresh_token_not_found", "status": 400},
}


def _comparable(result: dict[str, Any], email: str) -> dict[str, Any]:
    """What both clients must agree on: statuses are what supabase-js reports for Auth only (supabase-py's
    PostgREST errors carry no status), emails are each run's own."""
    out: dict[str, Any] = json.loads(json.dumps(result))
    out.pop("refresh_tokens", None)
    assert out["sign_up"].pop("email") == email
    assert out["get_user"].pop("email") == email
    for key in ("other_profile_single", "update_avatar_column", "unsupported_filter"):
        out[key].pop("status", None)
    return out


# -- supabase-py -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _client(edge: EdgeServer) -> Iterator[Client]:
    """supabase-py with one HTTP client of ours for Auth and PostgREST, closed at the end: the library
    opens (and drops) a PostgREST client per auth change, and has no close() of its own, so left to
    itself it leaves sockets for the garbage collector (a ResourceWarning in a later test)."""
    with httpx.Client() as http:
        yield create_client(
            edge.settings.supabase_url,
            edge.settings.anon_key,
            ClientOptions(auto_refresh_token=False, persist_session=False, httpx_client=http),
        )


def _auth_failure(call: Callable[[], Any]) -> dict[str, Any] | None:
    try:
        call()
    except (AuthApiError, CustomAuthError) as exc:  # weak_password is a CustomAuthError
        return {"code": exc.code, "status": exc.status}
    return None


def _rest(call: Callable[[], Any]) -> tuple[Any, dict[str, Any] | None]:
    try:
        return call(), None
    except APIError as exc:
        return None, {"code": exc.code}


def python_main(edge: EdgeServer, email: str, other_user_id: str) -> dict[str, Any]:
    with _client(edge) as supabase:
        return _python_main(supabase, email, other_user_id)


def _python_main(supabase: Client, email: str, other_user_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    signed_up = supabase.auth.sign_up(
        {"email": email, "password": PASSWORD, "options": {"data": {"full_name": "Ada"}}}
    )
    assert signed_up.user is not None
    out["sign_up"] = {
        "error": None,
        "has_session": signed_up.session is not None,
        "email": signed_up.user.email,
        "full_name": signed_up.user.user_metadata.get("full_name"),
    }
    out["sign_up_again"] = _auth_failure(
        lambda: supabase.auth.sign_up({"email": email, "password": PASSWORD})
    )
    out["weak_password"] = _auth_failure(
        lambda: supabase.auth.sign_up({"email": f"weak-{email}", "password": "123"})
    )
    out["wrong_password"] = _auth_failure(
        lambda: supabase.auth.sign_in_with_password({"email": email, "password": f"{PASSWORD}-wrong"})
    )
    signed_in = supabase.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.user is not None
    assert signed_in.session is not None
    user_id = signed_in.user.id
    out["sign_in"] = {"error": None, "same_user": user_id == signed_up.user.id}
    first = signed_in.session.refresh_token
    refreshed = supabase.auth.refresh_session()
    assert refreshed.session is not None
    second = refreshed.session.refresh_token
    out["refresh"] = {"error": None, "rotated": second != first}
    lost = supabase.auth.refresh_session(first)
    assert lost.session is not None
    out["refresh_replaced_again"] = {"error": None, "same_as_current": lost.session.refresh_token == second}
    third = supabase.auth.refresh_session(second)
    assert third.session is not None
    out["refresh_again"] = {"error": None, "rotated": third.session.refresh_token != second}

    profile, error = _rest(
        lambda: supabase.table("profiles").select("id,full_name").eq("id", user_id).single().execute()
    )
    out["own_profile"] = {
        "error": error,
        "full_name": profile.data["full_name"] if profile else None,
        "mine": bool(profile) and profile.data["id"] == user_id,
    }
    subscription, error = _rest(
        lambda: supabase.table("subscriptions").select("plan_code,status").maybe_single().execute()
    )
    out["own_subscription"] = {"error": error, "data": subscription.data if subscription else None}
    payments, error = _rest(
        lambda: (
            supabase.table("payments")
            .select("*", count=CountMethod.exact)
            .order("created_at", desc=True)
            .execute()
        )
    )
    out["own_payments"] = {
        "error": error,
        "rows": len(payments.data) if payments else None,
        "count": payments.count if payments else None,
    }
    other_profile, profile_error = _rest(
        lambda: supabase.table("profiles").select("*").eq("id", other_user_id).execute()
    )
    other_subscription, subscription_error = _rest(
        lambda: supabase.table("subscriptions").select("*").eq("user_id", other_user_id).execute()
    )
    out["other_user_rows"] = {
        "errors": [profile_error, subscription_error],
        "rows": (len(other_profile.data) if other_profile else -1)
        + (len(other_subscription.data) if other_subscription else -1),
    }
    _, out["other_profile_single"] = _rest(
        lambda: supabase.table("profiles").select("*").eq("id", other_user_id).single().execute()
    )
    renamed, error = _rest(
        lambda: supabase.table("profiles").update({"full_name": "Ada Lovelace"}).eq("id", user_id).execute()
    )
    out["update_own_name"] = {"error": error, "full_name": renamed.data[0]["full_name"] if renamed else None}
    other_rename, error = _rest(
        lambda: supabase.table("profiles").update({"full_name": "Mallory"}).eq("id", other_user_id).execute()
    )
    out["update_other_name"] = {"error": error, "rows": len(other_rename.data) if other_rename else None}
    _, out["update_avatar_column"] = _rest(
        lambda: (
            supabase.table("profiles")
            .update({"avatar_url": "https://example.com/x.png"})
            .eq("id", user_id)
            .execute()
        )
    )
    _, out["unsupported_filter"] = _rest(
        lambda: supabase.table("profiles").select("*").filter("full_name", "fts", "ada").execute()
    )
    user = supabase.auth.get_user()
    assert user is not None
    out["get_user"] = {"error": None, "email": user.user.email}
    updated = supabase.auth.update_user({"data": {"locale": "en"}})
    out["update_user"] = {"error": None, "locale": updated.user.user_metadata.get("locale")}
    out["refresh_tokens"] = {"rotated": first, "current": third.session.refresh_token}
    return out


def python_reuse(edge: EdgeServer, email: str, rotated: str) -> dict[str, Any]:
    with _client(edge) as supabase:
        return _python_reuse(supabase, email, rotated)


def _python_reuse(supabase: Client, email: str, rotated: str) -> dict[str, Any]:
    out: dict[str, Any] = {"reuse_rotated": _auth_failure(lambda: supabase.auth.refresh_session(rotated))}
    signed_in = supabase.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.session is not None
    token = signed_in.session.refresh_token
    out["sign_out"] = _auth_failure(supabase.auth.sign_out)
    out["refresh_after_sign_out"] = _auth_failure(lambda: supabase.auth.refresh_session(token))
    return out


# -- supabase-js -------------------------------------------------------------------------------------------


def js(edge: EdgeServer, *args: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is required (the Makefile's system packages include it)"
    settings = edge.settings
    env = {**os.environ, "SUPABASE_URL": settings.supabase_url, "SUPABASE_ANON_KEY": settings.anon_key}
    done = subprocess.run(
        [node, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- the contract -----------------------------------------------------------------------------------------

CLIENTS: dict[str, Any] = {
    "supabase-py": (python_main, python_reuse),
    "supabase-js": (
        lambda edge, email, other: js(edge, "main", email, PASSWORD, other),
        lambda edge, email, rotated: js(edge, "reuse", email, PASSWORD, rotated),
    ),
}


@pytest.fixture(scope="module")
def other_user(make_user: Callable[..., User]) -> User:
    return make_user("contract-other", full_name="Other")


def _age_refresh_token(stack: LocalStack, token: str, seconds: int) -> None:
    """Move a rotated token's revocation `seconds` into the past: past the reuse interval, without waiting."""
    with stack.superuser_connection() as conn:
        conn.execute(
            "update auth.refresh_tokens set updated_at = updated_at - make_interval(secs => %s) "
            "where token = %s",
            (seconds, token),
        )


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_frontend_signs_in_and_reads_its_own_rows(
    client: str, edge: EdgeServer, stack: LocalStack, other_user: User
) -> None:
    main, reuse = CLIENTS[client]
    email = f"frontend-{uuid.uuid4().hex[:10]}@example.test"
    result = main(edge, email, other_user.id)
    tokens = result["refresh_tokens"]
    assert _comparable(result, email) == EXPECTED_MAIN
    # The other user's name is untouched: RLS filtered the update, it did not just hide its result.
    with stack.superuser_connection() as conn:
        row = conn.execute("select full_name from public.profiles where id = %s", (other_user.id,)).fetchone()
    assert row == {"full_name": "Other"}

    _age_refresh_token(stack, tokens["rotated"], 60)
    assert reuse(edge, email, tokens["rotated"]) == EXPECTED_REUSE
    with stack.superuser_connection() as conn:
        sessions = conn.execute(
            "select count(*) as n from auth.sessions as s join auth.users as u on u.id = s.user_id "
            "where u.email = %s",
            (email,),
        ).fetchone()
    assert sessions == {"n": 0}, "sign-out (scope global) ends every session of the user"
