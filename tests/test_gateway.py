"""The local gateway checks keys and JWTs as the platform does before any RPC runs."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.client_ips import fresh_ip
from tests.conftest import EdgeServer, serve_edge
from tests.rate_windows import within_one_window
from thinbase import tokens
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.local.stack import LocalStack


def post(
    http: httpx.Client, fn: str, headers: dict[str, str], body: object = None, schema: str = "tests"
) -> httpx.Response:
    return http.post(
        f"/rest/v1/rpc/{fn}",
        json=body if body is not None else {},
        headers={"Content-Profile": schema, **headers},
    )


def test_missing_apikey_is_401(http: httpx.Client) -> None:
    response = post(http, "contract_add", {}, {"a": 1})
    assert response.status_code == 401
    assert response.json()["code"] == "PGRST301"


def test_unknown_apikey_is_401(http: httpx.Client, edge: EdgeServer) -> None:
    forged = tokens.api_key("service_role", "not-the-secret-not-the-secret-not-the-secret")
    response = post(http, "contract_add", {"apikey": forged}, {"a": 1})
    assert response.status_code == 401


def test_anon_key_alone_runs_as_anon(http: httpx.Client, edge: EdgeServer) -> None:
    response = post(http, "contract_whoami", {"apikey": edge.settings.anon_key})
    assert response.status_code == 200
    assert response.json()["current_user"] == "anon"


def test_service_key_runs_as_service_role(http: httpx.Client, edge: EdgeServer) -> None:
    key = edge.settings.service_role_key
    response = post(http, "contract_whoami", {"apikey": key, "Authorization": f"Bearer {key}"})
    assert response.json()["current_user"] == "service_role"


@pytest.mark.parametrize(
    ("token_kind", "code"),
    [
        ("garbage", "PGRST301"),
        ("wrong_secret", "PGRST301"),
        ("expired", "PGRST303"),
        ("alg_none", "PGRST301"),
    ],
)
def test_bad_bearer_tokens_are_401(http: httpx.Client, edge: EdgeServer, token_kind: str, code: str) -> None:
    secret = edge.settings.jwt_secret
    now = int(time.time())
    claims = {"sub": "00000000-0000-0000-0000-000000000001", "role": "authenticated", "exp": now + 60}
    token = {
        "garbage": "not.a.jwt",
        "wrong_secret": tokens.sign(claims, "x" * 40),
        "expired": tokens.sign({**claims, "exp": now - 10}, secret),
        "alg_none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
        "eyJzdWIiOiIxIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6OTk5OTk5OTk5OX0.",
    }[token_kind]
    response = post(
        http, "contract_whoami", {"apikey": edge.settings.anon_key, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unexposed_schema_is_406(http: httpx.Client, edge: EdgeServer) -> None:
    response = post(
        http, "latest_migration_version", {"apikey": edge.settings.service_role_key}, schema="private"
    )
    assert response.status_code == 406
    assert response.json()["code"] == "PGRST106"


def test_the_tests_schema_is_exposed_only_when_the_suite_asks(stack: LocalStack) -> None:
    """Without THINBASE_EXPOSE_TESTS_SCHEMA (the test suite sets it; `make dev` and `serve` do
    not), the test helpers (tests.create_supabase_user: an auth user with any email) are out of reach."""
    with (
        serve_edge(stack, THINBASE_EXPOSE_TESTS_SCHEMA="") as server,
        httpx.Client(base_url=server.url) as client,
    ):
        key = {"apikey": server.settings.anon_key}
        for response in (
            post(client, "contract_add", key, {"a": 1}),
            client.get(
                "/rest/v1/rpc/contract_add", params={"a": "1"}, headers={**key, "Accept-Profile": "tests"}
            ),
        ):
            assert response.status_code == 406, response.text
            assert response.json() == {
                "code": "PGRST106",
                "message": "Invalid schema: tests",
                "details": None,
                "hint": "Only the following schemas are exposed: public",
            }
        assert post(client, "plan_catalog", key, schema="public").status_code == 200


def test_the_gateway_appends_the_peer_to_x_forwarded_for(
    http: httpx.Client, edge: EdgeServer, db: PsycopgDatabase
) -> None:
    """The platform's gateway appends the address it saw to X-Forwarded-For, and SQL trusts that
    rightmost entry (one hop). The local gateway does the same, so forging the header from 127.0.0.1 gives
    no fresh waitlist bucket per request: the sixth join is refused."""

    def reset() -> None:
        db.rpc(
            "admin_reset_rate_limit",
            {"namespace": "waitlist", "subject": "127.0.0.1"},
            caller=Caller.service(),
        )

    reset()
    within_one_window(3600)
    try:
        answers = [
            post(
                http,
                "join_waitlist",
                {"apikey": edge.settings.anon_key, "X-Forwarded-For": fresh_ip()},
                {"email": f"forged-{index}-{fresh_ip().replace(':', '')}@example.test"},
                schema="public",
            )
            for index in range(6)
        ]
        assert [a.status_code for a in answers] == [200] * 5 + [429], answers[-1].text
        refused = answers[5]
        assert refused.json()["code"] == "rate_limited"
        # As PostgREST answers a `raise sqlstate 'PGRST'` with headers: the client learns when to retry.
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert int(refused.headers["x-ratelimit-limit"]) == 5
    finally:
        reset()


def test_invalid_json_body_is_400(http: httpx.Client, edge: EdgeServer) -> None:
    response = http.post(
        "/rest/v1/rpc/contract_add",
        content=b"{not json",
        headers={
            "apikey": edge.settings.anon_key,
            "Content-Profile": "tests",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


def test_a_body_nested_past_the_parsers_limit_is_400(http: httpx.Client, edge: EdgeServer) -> None:
    # json.loads raises RecursionError (not ValueError) here: it was an unhandled 500 in our error shape.
    response = http.post(
        "/rest/v1/rpc/contract_add",
        content=b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        headers={
            "apikey": edge.settings.anon_key,
            "Content-Profile": "tests",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "PGRST102"


def test_get_passes_query_parameters_read_only(http: httpx.Client, edge: EdgeServer) -> None:
    response = http.get(
        "/rest/v1/rpc/contract_add",
        params={"a": "2", "b": "3"},
        headers={"apikey": edge.settings.anon_key, "Accept-Profile": "tests"},
    )
    assert (response.status_code, response.json()) == (200, 5)


def test_health_reports_the_latest_migration(http: httpx.Client, stack: object) -> None:
    from thinbase.local.stack import LocalStack

    assert isinstance(stack, LocalStack)
    response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["migration_version"] == stack.applied_migrations()[-1]["version"]


def test_unknown_route_uses_the_json_error_shape(http: httpx.Client) -> None:
    response = http.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}
