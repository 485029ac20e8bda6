"""The local gateway's table reads and PATCH (/rest/v1/{table}) answer as PostgREST does, for the subset it
serves, and refuse the rest with PostgREST's error shape and a hint — never a wrong answer.

Reads of public.currencies (every role may read it) are checked against the same query run in SQL by the
superuser, so the expectations follow the table's contents; RLS and grants are checked with real users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import EdgeServer, User
from thinbase.local.stack import LocalStack


@pytest.fixture
def anon(edge: EdgeServer) -> Iterator[httpx.Client]:
    key = edge.settings.anon_key
    with httpx.Client(base_url=f"{edge.url}/rest/v1", headers={"apikey": key}, timeout=30) as client:
        yield client


def as_user(edge: EdgeServer, user: User) -> httpx.Client:
    headers = {"apikey": edge.settings.anon_key, "Authorization": f"Bearer {user.token}"}
    return httpx.Client(base_url=f"{edge.url}/rest/v1", headers=headers, timeout=30)


def sql(stack: LocalStack, query: str, *params: Any) -> list[dict[str, Any]]:
    with stack.superuser_connection() as conn:
        return conn.execute(query, params).fetchall()


def codes(stack: LocalStack, where: str = "true", *params: Any, order: str = "code") -> list[str]:
    return [
        r["code"] for r in sql(stack, f"select code from currencies where {where} order by {order}", *params)
    ]


@pytest.mark.parametrize(
    ("query", "where", "params"),
    [
        ("exponent=eq.3", "exponent = 3", ()),
        ("exponent=neq.2", "exponent <> 2", ()),
        ("exponent=gt.2", "exponent > 2", ()),
        ("exponent=gte.2", "exponent >= 2", ()),
        ("exponent=lt.2", "exponent < 2", ()),
        ("exponent=lte.0", "exponent <= 0", ()),
        ("code=in.(USD,EUR,XXX)", "code in ('USD', 'EUR', 'XXX')", ()),
        ('name=in.("Euro","Japanese yen")', "name in ('Euro', 'Japanese yen')", ()),
        ("code=in.()", "false", ()),
        ("code=not.in.(USD,EUR)", "code not in ('USD', 'EUR')", ()),
        ("name=like.*dollar", "name like '%%dollar'", ()),
        ("name=ilike.*DINAR*", "name ilike '%%dinar%%'", ()),
        ("name=not.ilike.*dollar*", "name not ilike '%%dollar%%'", ()),
        ("name=is.null", "name is null", ()),
        ("name=not.is.null", "name is not null", ()),
        ("exponent=gte.2&exponent=lt.3", "exponent >= 2 and exponent < 3", ()),
    ],
)
def test_filters_select_what_postgresql_selects(
    anon: httpx.Client, stack: LocalStack, query: str, where: str, params: tuple[Any, ...]
) -> None:
    response = anon.get(f"/currencies?select=code&{query}&order=code")
    assert response.status_code == 200, response.text
    assert [r["code"] for r in response.json()] == codes(stack, where, *params)


def test_select_renames_and_orders(anon: httpx.Client, stack: LocalStack) -> None:
    response = anon.get("/currencies?select=iso:code,exponent&order=exponent.desc,code.asc&limit=3")
    assert response.status_code == 200
    expected = sql(stack, "select code as iso, exponent from currencies order by exponent desc, code limit 3")
    assert response.json() == expected
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["content-range"] == "0-2/*"


def test_star_is_every_column_in_table_order(anon: httpx.Client, stack: LocalStack) -> None:
    response = anon.get("/currencies?code=eq.JPY")
    assert response.json() == sql(stack, "select * from currencies where code = 'JPY'")
    assert list(response.json()[0]) == list(sql(stack, "select * from currencies limit 1")[0])


def test_pages_and_counts_as_postgrest(anon: httpx.Client, stack: LocalStack) -> None:
    total = len(codes(stack))
    everything = anon.get("/currencies?select=code&order=code", headers={"Prefer": "count=exact"})
    assert everything.status_code == 200
    assert everything.headers["content-range"] == f"0-{total - 1}/{total}"
    assert everything.headers["preference-applied"] == "count=exact"

    page = anon.get("/currencies?select=code&order=code&limit=5&offset=2", headers={"Prefer": "count=exact"})
    assert page.status_code == 206  # a partial page of a counted read
    assert page.headers["content-range"] == f"2-6/{total}"
    assert [r["code"] for r in page.json()] == codes(stack)[2:7]

    ranged = anon.get("/currencies?select=code&order=code", headers={"Range": "3-4"})
    assert ranged.status_code == 200  # not counted: PostgREST cannot know the page is partial
    assert ranged.headers["content-range"] == "3-4/*"
    assert [r["code"] for r in ranged.json()] == codes(stack)[3:5]

    # The Range header and limit/offset intersect.
    both = anon.get("/currencies?select=code&order=code&offset=4", headers={"Range": "0-5"})
    assert [r["code"] for r in both.json()] == codes(stack)[4:6]

    past = anon.get("/currencies?offset=1000", headers={"Prefer": "count=exact"})
    assert past.status_code == 416
    assert past.json()["code"] == "PGRST103"
    assert past.json()["details"] == f"An offset of 1000 was requested, but there are only {total} rows."

    empty = anon.get("/currencies?code=eq.XXX", headers={"Prefer": "count=exact"})
    assert (empty.status_code, empty.headers["content-range"], empty.json()) == (200, "*/0", [])
    zero = anon.get("/currencies?limit=0")
    assert (zero.status_code, zero.json()) == (200, [])

    inverted = anon.get("/currencies", headers={"Range": "5-2"})
    assert (inverted.status_code, inverted.json()["code"]) == (416, "PGRST103")
    negative = anon.get("/currencies?limit=-1")
    assert (negative.status_code, negative.json()["code"]) == (416, "PGRST103")


def test_head_counts_without_a_body(anon: httpx.Client, stack: LocalStack) -> None:
    response = anon.head("/currencies?exponent=eq.0", headers={"Prefer": "count=exact"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-range"].endswith(f"/{len(codes(stack, 'exponent = 0'))}")


def test_single_object_needs_exactly_one_row(anon: httpx.Client) -> None:
    accept = {"Accept": "application/vnd.pgrst.object+json"}
    one = anon.get("/currencies?code=eq.KWD&select=code,exponent", headers=accept)
    assert one.status_code == 200
    assert one.json() == {"code": "KWD", "exponent": 3}
    assert one.headers["content-type"] == "application/vnd.pgrst.object+json; charset=utf-8"
    for query, rows in (("code=eq.XXX", 0), ("code=in.(USD,EUR)", 2)):
        refused = anon.get(f"/currencies?{query}", headers=accept)
        assert refused.status_code == 406
        assert refused.json() == {
            "code": "PGRST116",
            "message": "Cannot coerce the result to a single JSON object",
            "details": f"The result contains {rows} rows",
            "hint": None,
        }


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("name=fts.dollar", 400, "PGRST100"),
        ("name=cs.{a}", 400, "PGRST100"),
        ("name=eq(any).{Euro}", 400, "PGRST100"),
        ("name=nonsense.1", 400, "PGRST100"),
        ("name=eq", 400, "PGRST100"),
        ("or=(code.eq.USD,code.eq.EUR)", 400, "PGRST100"),
        ("plans.code=eq.PRO", 400, "PGRST100"),
        ("code=in.USD", 400, "PGRST100"),
        ("name=is.maybe", 400, "PGRST100"),
        ("order=code.sideways", 400, "PGRST100"),
        ("select=code,plan_prices(*)", 400, "PGRST127"),
        ("select=exponent::text", 400, "PGRST127"),
        ("select=count()", 400, "PGRST127"),
        ("select=nope", 400, "42703"),
        ("nope=eq.1", 400, "42703"),
        ("order=nope", 400, "42703"),
        ("exponent=eq.abc", 400, "22P02"),
    ],
)
def test_outside_the_subset_is_refused_with_a_hint(
    anon: httpx.Client, query: str, status: int, code: str
) -> None:
    response = anon.get(f"/currencies?{query}")
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "details", "hint"}
    if code.startswith("PGRST"):
        assert "supabase start" in body["hint"]


def test_unknown_tables_media_types_and_preferences(anon: httpx.Client) -> None:
    missing = anon.get("/currency")
    assert missing.status_code == 404
    assert missing.json()["code"] == "PGRST205"
    assert missing.json()["message"] == "Could not find the table 'public.currency' in the schema cache"
    assert missing.json()["hint"] == "Perhaps you meant the table 'public.currencies'"
    csv = anon.get("/currencies", headers={"Accept": "text/csv"})
    assert (csv.status_code, csv.json()["code"]) == (406, "PGRST107")
    planned = anon.get("/currencies", headers={"Prefer": "count=planned"})
    assert (planned.status_code, planned.json()["code"]) == (400, "PGRST127")
    private = anon.get("/currencies", headers={"Accept-Profile": "private"})
    assert (private.status_code, private.json()["code"]) == (406, "PGRST106")
    for method in ("POST", "PUT", "DELETE"):
        refused = anon.request(method, "/currencies", json={"code": "XTS"})
        assert (refused.status_code, refused.json()["code"]) == (400, "PGRST127")


def test_keys_and_tokens_are_checked_as_for_rpc(edge: EdgeServer) -> None:
    with httpx.Client(base_url=f"{edge.url}/rest/v1", timeout=30) as client:
        assert client.get("/currencies").status_code == 401
        forged = client.get(
            "/currencies", headers={"apikey": edge.settings.anon_key, "Authorization": "Bearer x"}
        )
        assert (forged.status_code, forged.json()["code"]) == (401, "PGRST301")


def test_rls_decides_rows_and_grants_decide_tables(
    edge: EdgeServer, make_user: Callable[..., User], anon: httpx.Client
) -> None:
    ada, bob = make_user("tables-ada", full_name="Ada"), make_user("tables-bob", full_name="Bob")
    with as_user(edge, ada) as client:
        everyone = client.get("/profiles?select=id,full_name")
        assert everyone.json() == [{"id": ada.id, "full_name": "Ada"}]
        assert client.get(f"/subscriptions?user_id=eq.{bob.id}").json() == []
        own = client.get(
            "/subscriptions?select=plan_code", headers={"Accept": "application/vnd.pgrst.object+json"}
        )
        assert own.json() == {"plan_code": "FREE"}
        hidden = client.get("/waitlist")  # no grant to authenticated: PostgreSQL's 42501, 403 when signed in
        assert (hidden.status_code, hidden.json()["code"]) == (403, "42501")
    refused = anon.get("/profiles")  # no grant to anon: 401, as PostgREST answers an anonymous 42501
    assert (refused.status_code, refused.json()["code"]) == (401, "42501")
    assert refused.headers["www-authenticate"].startswith("Bearer")
    service = edge.settings.service_role_key
    with httpx.Client(
        base_url=f"{edge.url}/rest/v1", headers={"apikey": service, "Authorization": f"Bearer {service}"}
    ) as client:
        both = client.get(f"/profiles?select=full_name&id=in.({ada.id},{bob.id})&order=full_name")
        assert both.json() == [{"full_name": "Ada"}, {"full_name": "Bob"}]  # service_role bypasses RLS


def test_patch_writes_only_granted_columns_of_visible_rows(
    edge: EdgeServer, make_user: Callable[..., User], stack: LocalStack
) -> None:
    ada, bob = make_user("patch-ada", full_name="Ada"), make_user("patch-bob", full_name="Bob")
    with as_user(edge, ada) as client:
        minimal = client.patch(f"/profiles?id=eq.{ada.id}", json={"full_name": "Ada L"})
        assert minimal.status_code == 204
        assert minimal.headers["content-range"] == "0-0/*"
        full = client.patch(
            f"/profiles?id=eq.{ada.id}&select=full_name",
            json={"full_name": "Ada Lovelace"},
            headers={"Prefer": "return=representation, count=exact"},
        )
        assert (full.status_code, full.json()) == (200, [{"full_name": "Ada Lovelace"}])
        assert full.headers["preference-applied"] == "return=representation, count=exact"
        assert full.headers["content-range"] == "0-0/1"

        other = client.patch(
            f"/profiles?id=eq.{bob.id}",
            json={"full_name": "Mallory"},
            headers={"Prefer": "return=representation"},
        )
        assert (other.status_code, other.json()) == (200, [])  # RLS: not this user's row
        avatar = client.patch(f"/profiles?id=eq.{ada.id}", json={"avatar_url": "https://example.com/a.png"})
        assert (avatar.status_code, avatar.json()["code"]) == (403, "42501")  # no UPDATE grant on the column
        unknown = client.patch(f"/profiles?id=eq.{ada.id}", json={"nickname": "x"})
        assert (unknown.status_code, unknown.json()["code"]) == (400, "PGRST204")
        unfiltered = client.patch("/profiles", json={"full_name": "Everyone"})
        assert (unfiltered.status_code, unfiltered.json()["code"]) == (400, "21000")  # as pg-safeupdate
        invalid = client.patch(
            f"/profiles?id=eq.{ada.id}", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert (invalid.status_code, invalid.json()["code"]) == (400, "PGRST102")
        # object+json on PATCH: exactly one row, else the update is rolled back.
        singular = client.patch(
            f"/profiles?id=in.({ada.id},{bob.id})",
            json={"full_name": "Nobody"},
            headers={"Accept": "application/vnd.pgrst.object+json", "Prefer": "return=representation"},
        )
        assert singular.status_code == 200  # only Ada's row is visible: one row
        assert singular.json()["full_name"] == "Nobody"
        none = client.patch(
            f"/profiles?id=eq.{bob.id}",
            json={"full_name": "Ghost"},
            headers={"Accept": "application/vnd.pgrst.object+json"},
        )
        assert (none.status_code, none.json()["code"]) == (406, "PGRST116")
    rows = sql(
        stack,
        "select id::text, full_name from profiles where id in (%s, %s) order by full_name",
        ada.id,
        bob.id,
    )
    assert rows == [{"id": bob.id, "full_name": "Bob"}, {"id": ada.id, "full_name": "Nobody"}]


def test_a_singular_patch_that_matches_two_rows_is_rolled_back(
    edge: EdgeServer, make_user: Callable[..., User], stack: LocalStack
) -> None:
    ada, bob = make_user("rollback-ada", full_name="Ada"), make_user("rollback-bob", full_name="Bob")
    service = edge.settings.service_role_key
    with httpx.Client(
        base_url=f"{edge.url}/rest/v1", headers={"apikey": service, "Authorization": f"Bearer {service}"}
    ) as client:
        refused = client.patch(
            f"/profiles?id=in.({ada.id},{bob.id})",
            json={"full_name": "Both"},
            headers={"Accept": "application/vnd.pgrst.object+json", "Prefer": "return=representation"},
        )
    assert refused.status_code == 406
    assert refused.json()["details"] == "The result contains 2 rows"
    rows = sql(
        stack, "select full_name from profiles where id in (%s, %s) order by full_name", ada.id, bob.id
    )
    assert rows == [{"full_name": "Ada"}, {"full_name": "Bob"}]
