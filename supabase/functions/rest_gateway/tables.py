"""PostgREST's table reads (and PATCH) at /rest/v1/{table}, a bounded subset; local stack only.

What supabase-js and supabase-py send for `.from(t).select(…)` and `.update(…)`, answered as PostgREST
answers it, run as the caller (the same key and JWT checks as /rest/v1/rpc) so grants and RLS decide
exactly as on a project:
  GET/HEAD  select=* | col,alias:col   filters col=[not.]op.value with op in eq neq gt gte lt lte in is
            like ilike (several on one column AND together)   order=col[.asc|.desc][.nullsfirst|.nullslast],…
            limit, offset, the Range header (GET only, as PostgREST)   Prefer: count=exact
            Accept: application/json | application/vnd.pgrst.object+json
  PATCH     a JSON object of columns, the same filters (at least one: hosted projects run pg-safeupdate),
            select= for what comes back, Prefer: return=minimal|representation|headers-only, count=exact
Responses carry PostgREST's headers: Content-Range (`0-9/42`, `*/0`), 206 for a partial page of a counted
read, 416 PGRST103 past the end, Preference-Applied, and 406 PGRST116 when object+json meets other than
one row (a PATCH is then rolled back).

Outside the subset nothing is guessed: a filter or operator it does not serve (or/and trees, fts, cs, cd,
JSON paths, quantifiers, filters on embedded resources) is 400 PGRST100 ("failed to parse filter"), other
PostgREST features (embedding, casts, aggregates, count=planned, other media types, inserts, deletes)
400 PGRST127 ("Feature not implemented") or, for a media type, 406 PGRST107 — each with a hint naming
the subset and `supabase start`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thinbase.db.tables import (
    IS_VALUES,
    OPERATORS,
    Column,
    Filter,
    Operator,
    Order,
    SingularityError,
    TableAccess,
    TableRead,
    TableRows,
    TableUpdate,
)
from thinbase.errors import DatabaseUnavailable, RpcError
from thinbase.functions._shared.state import app_state
from thinbase.functions.rest_gateway import (
    forwarded_for,
    postgrest_error,
    request_caller,
    requested_schema,
)

HINT = (
    "The local stack serves a subset of PostgREST: select= (columns, alias:column), filters "
    "eq/neq/gt/gte/lt/lte/in/is/like/ilike (and not.), order, limit/offset, the Range header, "
    "Prefer: count=exact, Accept: application/vnd.pgrst.object+json, and PATCH. "
    "Run `supabase start` (Docker) for all of PostgREST."
)
# PostgREST's own operators that this subset does not serve: refused, never approximated.
OTHER_OPERATORS = (
    "match", "imatch", "isdistinct", "fts", "plfts", "phfts", "wfts", "cs", "cd", "ov",
    "sl", "sr", "nxr", "nxl", "adj",
)  # fmt: skip
RESERVED = ("select", "order", "limit", "offset", "columns", "on_conflict")
OBJECT = "application/vnd.pgrst.object+json"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_RANGE = re.compile(r"^([0-9]+)-([0-9]*)$")
_ORDER_TERMS = {"asc", "desc", "nullsfirst", "nullslast"}


def _bad_filter(raw: str, details: str) -> RpcError:
    return RpcError(400, "PGRST100", f"failed to parse filter ({raw})", details, HINT)


def _not_implemented(details: str) -> RpcError:
    return RpcError(400, "PGRST127", "Feature not implemented", details, HINT)


def _in_list(raw: str, text: str) -> tuple[str, ...]:
    """PostgREST's `in.(a,b,"c,d")`: commas separate, double quotes protect, backslash escapes."""
    if not (text.startswith("(") and text.endswith(")")):
        raise _bad_filter(raw, 'the list of an "in" filter is written in parentheses: in.(a,b)')
    items: list[str] = []
    current, quoted, escaped, was_quoted = "", False, False, False
    for char in text[1:-1]:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted, was_quoted = not quoted, True
        elif char == "," and not quoted:
            items.append(current if was_quoted else current.strip())
            current, was_quoted = "", False
        else:
            current += char
    if quoted:
        raise _bad_filter(raw, "unterminated quote in the list")
    if current or was_quoted or items:
        items.append(current if was_quoted else current.strip())
    return tuple(items)


def _filter(column: str, raw: str) -> Filter:
    if not _IDENTIFIER.match(column):
        # `a->>b` (JSON paths), `plans.code` (an embedded resource's column) and the like.
        raise _bad_filter(raw, f"filters on {column!r} are not served locally: plain column names only")
    negated = False
    operator, _, value = raw.partition(".")
    if operator == "not":
        negated = True
        operator, _, value = value.partition(".")
    if "(" in operator:  # eq(any), like(all): quantified operators
        raise _bad_filter(raw, f'the quantified operator "{operator}" is not served locally')
    if operator in OTHER_OPERATORS:
        raise _bad_filter(raw, f'the operator "{operator}" is not served locally')
    if operator not in OPERATORS or not _:
        raise _bad_filter(raw, f'unknown operator "{operator}"')
    op: Operator = operator  # narrowed by the check against OPERATORS above
    if op == "in":
        return Filter(column, op, _in_list(raw, value), negated)
    if op == "is":
        if value.lower() not in IS_VALUES:
            raise _bad_filter(raw, f'"is" takes one of {", ".join(IS_VALUES)}')
        return Filter(column, op, value.lower(), negated)
    if op in ("like", "ilike"):
        value = value.replace("*", "%")  # PostgREST's URL-friendly wildcard
    return Filter(column, op, value, negated)


def _columns(select: str | None) -> tuple[Column, ...] | None:
    if select is None or select.strip() in ("", "*"):
        return None
    columns = []
    for item in (part.strip() for part in select.split(",")):
        alias, _, name = item.rpartition(":") if ":" in item and "::" not in item else ("", "", item)
        if not _IDENTIFIER.match(name) or (alias and not _IDENTIFIER.match(alias)):
            raise _not_implemented(
                f"select={select}: only column names (and alias:column) are served locally, "
                "not embedded resources, casts, JSON paths, spreads, aggregates or '*' with columns"
            )
        columns.append(Column(name, alias or None))
    return tuple(columns)


def _order(value: str) -> tuple[Order, ...]:
    orders = []
    for term in value.split(","):
        column, *modifiers = term.strip().split(".")
        if "(" in column:
            raise _not_implemented(f"order={value}: ordering by an embedded resource is not served locally")
        if not _IDENTIFIER.match(column) or not set(modifiers) <= _ORDER_TERMS or len(modifiers) > 2:
            raise RpcError(400, "PGRST100", f"failed to parse order ({value})", None, HINT)
        nulls = {"nullsfirst": True, "nullslast": False}
        orders.append(
            Order(
                column,
                descending="desc" in modifiers,
                nulls_first=next((nulls[m] for m in modifiers if m in nulls), None),
            )
        )
    return tuple(orders)


@dataclass(frozen=True)
class Page:
    """PostgREST's top-level range: the Range header (GET only) intersected with limit/offset."""

    offset: int
    limit: int | None  # None: to the end


def _integer(value: str | None) -> int | None:
    # PostgREST reads limit/offset with readMaybe: what does not parse as an integer is ignored.
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _page(request: Request) -> Page:
    query = request.query_params
    limit, offset = _integer(query.get("limit")), _integer(query.get("offset"))
    lower, upper = offset or 0, None if limit is None else (offset or 0) + limit - 1
    if limit == 0:
        return Page(offset or 0, 0)  # PostgREST's special "limit zero" range, never a 416
    header = request.headers.get("range", "") if request.method in ("GET", "HEAD") else ""
    matched = _RANGE.match(header.strip())
    header_empty = False
    if matched:
        header_lower, header_upper = int(matched[1]), int(matched[2]) if matched[2] else None
        header_empty = header_upper is not None and header_upper < header_lower
        lower = max(lower, header_lower)
        if header_upper is not None:
            upper = header_upper if upper is None else min(upper, header_upper)
    if header_empty or (upper is not None and upper < lower):
        detail = (
            "The lower boundary must be lower than or equal to the upper boundary in the Range header."
            if header_empty
            else "Limit should be greater than or equal to zero."
        )
        raise RpcError(416, "PGRST103", "Requested range not satisfiable", detail)
    return Page(lower, None if upper is None else upper - lower + 1)


def _preferences(request: Request) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                prefs.setdefault(key.lower(), value.strip())
    count = prefs.get("count")
    if count is not None and count != "exact":
        raise _not_implemented(f"Prefer: count={count} is not served locally; count=exact is")
    if "timezone" in prefs:
        raise _not_implemented("Prefer: timezone= is not served locally")
    return prefs


def _singular(request: Request) -> bool:
    """Content negotiation: True for PostgREST's single-object media type, else JSON; 406 otherwise."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return False
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media in offered:
        if media in (OBJECT, "application/vnd.pgrst.object"):
            if ";" in accept and "nulls=stripped" in accept:
                break
            return True
        if media in ("application/json", "*/*", "application/*"):
            return False
    raise RpcError(
        406, "PGRST107", f"None of these media types are available: {', '.join(offered)}", None, HINT
    )


def _filters(request: Request) -> tuple[Filter, ...]:
    filters = []
    for key, value in request.query_params.multi_items():
        if key in RESERVED:
            continue
        if key in ("or", "and", "not.or", "not.and"):
            raise _bad_filter(f"{key}={value}", f'logical trees ("{key}") are not served locally')
        filters.append(_filter(key, value))
    return tuple(filters)


def _content_range(lower: int, rows: int, total: int | None) -> str:
    upper = lower + rows - 1
    shown = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{shown}/{'*' if total is None else total}"


def _applied(prefs: dict[str, str], *names: str) -> dict[str, str]:
    values = [f"{name}={prefs[name]}" for name in names if name in prefs]
    return {"Preference-Applied": ", ".join(values)} if values else {}


def _json(body: Any, status: int, headers: dict[str, str], singular: bool, head: bool) -> Response:
    media = OBJECT if singular else "application/json"
    content = b"" if head else json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status, headers=headers, media_type=f"{media}; charset=utf-8")


def _access(request: Request) -> TableAccess:
    database = app_state(request).database
    if not isinstance(database, TableAccess):  # the gateway runs with DATABASE_URL: the psycopg adapter
        raise _not_implemented("this database adapter cannot read tables")
    return database


async def read(request: Request) -> Response:
    table = request.path_params["table"]
    settings = app_state(request).settings
    requested_schema(request, settings)
    caller = request_caller(request, settings)
    singular = _singular(request)
    prefs = _preferences(request)
    page = _page(request)
    query = TableRead(
        table=table,
        columns=_columns(request.query_params.get("select")),
        filters=_filters(request),
        order=_order(request.query_params["order"]) if "order" in request.query_params else (),
        limit=page.limit,
        offset=page.offset,
        count=prefs.get("count") == "exact",
    )
    result: TableRows = await _access(request).read_table(
        query, caller=caller, headers=forwarded_for(request)
    )
    rows, total = len(result.rows), result.total
    if total is not None and page.offset > total:
        raise RpcError(
            416,
            "PGRST103",
            "Requested range not satisfiable",
            f"An offset of {page.offset} was requested, but there are only {total} rows.",
        )
    status = 206 if total is not None and rows < total else 200
    headers = {"Content-Range": _content_range(page.offset, rows, total), **_applied(prefs, "count")}
    headers["Content-Profile"] = "public"
    if singular:
        if rows != 1:
            raise RpcError(
                406,
                "PGRST116",
                "Cannot coerce the result to a single JSON object",
                f"The result contains {rows} rows",
            )
        return _json(result.rows[0], status, headers, True, request.method == "HEAD")
    return _json(list(result.rows), status, headers, False, request.method == "HEAD")


async def update(request: Request) -> Response:
    table = request.path_params["table"]
    settings = app_state(request).settings
    requested_schema(request, settings)
    caller = request_caller(request, settings)
    singular = _singular(request)
    prefs = _preferences(request)
    for unsupported in ("limit", "offset", "order", "columns", "on_conflict"):
        if unsupported in request.query_params:
            raise _not_implemented(f"{unsupported}= on PATCH is not served locally")
    try:
        values = json.loads(await request.body())
    except (ValueError, RecursionError) as exc:
        raise RpcError(400, "PGRST102", "Empty or invalid json", str(exc)) from exc
    if not isinstance(values, dict):
        raise RpcError(400, "PGRST102", "Empty or invalid json", "PATCH takes a JSON object")
    if not values:
        raise _not_implemented("a PATCH with no columns is not served locally")
    filters = _filters(request)
    if not filters:
        # Hosted projects run pg-safeupdate for the Data API (reference §1.2): an unfiltered UPDATE fails.
        raise RpcError(400, "21000", "UPDATE requires a WHERE clause")
    returning = prefs.get("return", "minimal")
    representation = returning == "representation"
    command = TableUpdate(
        table=table,
        values=values,
        filters=filters,
        returning=_columns(request.query_params.get("select")),
        singular=singular,
    )
    try:
        result = await _access(request).update_table(
            command,
            caller=caller,
            headers=forwarded_for(request),
            representation=representation,
        )
    except SingularityError as exc:
        raise RpcError(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
            f"The result contains {exc.rows} rows",
        ) from exc
    matched = result.total or 0
    total = matched if prefs.get("count") == "exact" else None
    headers = {"Content-Range": _content_range(0, matched, total), **_applied(prefs, "return", "count")}
    if representation:
        headers["Content-Profile"] = "public"
        body = result.rows[0] if singular else list(result.rows)
        return _json(body, 200, headers, singular, False)
    return Response(status_code=204, headers=headers)


async def refuse(request: Request) -> Response:
    verb = {"POST": "inserts (POST)", "PUT": "upserts (PUT)", "DELETE": "deletes (DELETE)"}[request.method]
    raise _not_implemented(f"{verb} on /rest/v1/{request.path_params['table']} are not served locally")


def _guarded(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except RpcError as error:
            return postgrest_error(error)
        except DatabaseUnavailable as exc:
            return postgrest_error(
                RpcError(503, "PGRST001", "Database client error. Retrying the connection.", str(exc))
            )

    return endpoint


routes = [
    Route("/rest/v1/{table}", _guarded(read), methods=["GET", "HEAD"]),
    Route("/rest/v1/{table}", _guarded(update), methods=["PATCH"]),
    Route("/rest/v1/{table}", _guarded(refuse), methods=["POST", "PUT", "DELETE"]),
]
