"""The SQL of a table read or update (thinbase.db.tables), shaped like PostgREST's own queries.

Identifiers come from the catalog only: the table must be a relation in `public` and every column one of
its columns (else PostgREST's PGRST205 / PostgreSQL's 42703 / PGRST204), and each is quoted with
psycopg.sql. Values are bound parameters, sent as untyped literals, so PostgreSQL casts them to the
column's type exactly as it does for PostgREST (a bad uuid is 22P02, 400). The queries run as the caller:
grants decide tables and columns (42501), RLS decides rows.

    read:   with pgrst_source as (select <columns> from <table> where … order by … limit … offset …)
            select <count of all matching rows, or null>, count(*), coalesce(json_agg(_t), '[]')
            from pgrst_source as _t
    update: with pgrst_update as (update <table> set c = _.c from json_populate_record(null::<table>, $1) _
                                  where … returning <columns | 1>)
            select null, count(*), coalesce(json_agg(_t), '[]') | '[]' from pgrst_update as _t
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from thinbase.db.tables import Column, Filter, TableRead, TableUpdate
from thinbase.errors import RpcError

SCHEMA = "public"

CATALOG_SQL = """
select c.relname::text, array_agg(a.attname::text order by a.attnum)
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
group by c.relname
"""

_COMPARISONS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "like",
    "ilike": "ilike",
}
_IS = {"null": "null", "true": "true", "false": "false", "unknown": "unknown"}

Catalog = Mapping[str, Sequence[str]]


def table_not_found(table: str, catalog: Catalog) -> RpcError:
    close = difflib.get_close_matches(table, list(catalog), n=1)
    hint = f"Perhaps you meant the table '{SCHEMA}.{close[0]}'" if close else None
    return RpcError(
        404, "PGRST205", f"Could not find the table '{SCHEMA}.{table}' in the schema cache", None, hint
    )


def check_columns(table: str, names: Sequence[str], catalog: Catalog) -> None:
    """Every column named must exist, as PostgreSQL says when it does not (PostgREST passes that on)."""
    known = set(catalog[table])
    for name in names:
        if name not in known:
            raise RpcError(400, "42703", f"column {table}.{name} does not exist")


def _column(table: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(table), sql.Identifier(name))


def _select_list(table: str, columns: tuple[Column, ...] | None) -> sql.Composable:
    if columns is None:
        return sql.SQL("{}.*").format(sql.Identifier(table))
    return sql.SQL(", ").join(
        sql.SQL("{} as {}").format(_column(table, c.name), sql.Identifier(c.label)) for c in columns
    )


def _condition(table: str, item: Filter, params: list[Any]) -> sql.Composable:
    column = _column(table, item.column)
    condition: sql.Composable
    if item.operator == "in":
        values = item.value if isinstance(item.value, tuple) else (item.value,)
        if not values:
            condition = sql.SQL("false")  # PostgREST: `in.()` matches nothing
        else:
            params.extend(values)
            placeholders = sql.SQL(", ").join(sql.Placeholder() for _ in values)
            condition = sql.SQL("{} in ({})").format(column, placeholders)
    elif item.operator == "is":
        condition = sql.SQL("{} is {}").format(column, sql.SQL(_IS[str(item.value)]))
    else:
        params.append(item.value)
        condition = sql.SQL("{} {} {}").format(
            column, sql.SQL(_COMPARISONS[item.operator]), sql.Placeholder()
        )
    return sql.SQL("not ({})").format(condition) if item.negated else condition


def _where(table: str, filters: tuple[Filter, ...], params: list[Any]) -> sql.Composable:
    if not filters:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(_condition(table, f, params) for f in filters)


def read_statement(read: TableRead, catalog: Catalog) -> tuple[sql.Composed, list[Any]]:
    names = (
        [c.name for c in read.columns or ()]
        + [f.column for f in read.filters]
        + [o.column for o in read.order]
    )
    check_columns(read.table, names, catalog)
    target = sql.Identifier(SCHEMA, read.table)
    params: list[Any] = []
    source = sql.SQL("select {} from {} as {}{}").format(
        _select_list(read.table, read.columns),
        target,
        sql.Identifier(read.table),
        _where(read.table, read.filters, params),
    )
    if read.order:
        source += sql.SQL(" order by ") + sql.SQL(", ").join(
            sql.SQL("{} {}{}").format(
                _column(read.table, o.column),
                sql.SQL("desc" if o.descending else "asc"),
                sql.SQL("" if o.nulls_first is None else " nulls first" if o.nulls_first else " nulls last"),
            )
            for o in read.order
        )
    if read.limit is not None:
        source += sql.SQL(" limit {}").format(sql.Literal(read.limit))
    if read.offset:
        source += sql.SQL(" offset {}").format(sql.Literal(read.offset))
    total: sql.Composable = sql.SQL("null::bigint")
    if read.count:
        count_params: list[Any] = []
        total = sql.SQL("(select pg_catalog.count(*) from {} as {}{})").format(
            target, sql.Identifier(read.table), _where(read.table, read.filters, count_params)
        )
        params = count_params + params
    statement = sql.SQL(
        "with pgrst_source as ({source}) "
        "select {total}, pg_catalog.count(*), coalesce(pg_catalog.json_agg(_t), '[]'::json) "
        "from pgrst_source as _t"
    ).format(source=source, total=total)
    return statement, params


def update_statement(
    update: TableUpdate, catalog: Catalog, *, representation: bool
) -> tuple[sql.Composed, list[Any]]:
    known = set(catalog[update.table])
    for name in update.values:
        if name not in known:
            raise RpcError(
                400, "PGRST204", f"Could not find the '{name}' column of '{update.table}' in the schema cache"
            )
    check_columns(
        update.table,
        [c.name for c in update.returning or ()] + [f.column for f in update.filters],
        catalog,
    )
    # The body first: its placeholder comes before the filters' in the statement.
    params: list[Any] = [json.dumps(dict(update.values))]
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = _.{}").format(sql.Identifier(name), sql.Identifier(name)) for name in update.values
    )
    record = sql.SQL("pg_catalog.json_populate_record(null::{}, {}::json) as _").format(
        sql.Identifier(SCHEMA, update.table), sql.Placeholder()
    )
    returning = _select_list(update.table, update.returning) if representation else sql.SQL("1")
    body = (
        sql.SQL("coalesce(pg_catalog.json_agg(_t), '[]'::json)") if representation else sql.SQL("'[]'::json")
    )
    where = _where(update.table, update.filters, params)
    statement = sql.SQL(
        "with pgrst_update as (update {target} as {alias} set {assignments} from {record}{where} "
        "returning {returning}) "
        "select null::bigint, pg_catalog.count(*), {body} from pgrst_update as _t"
    ).format(
        target=sql.Identifier(SCHEMA, update.table),
        alias=sql.Identifier(update.table),
        assignments=assignments,
        record=record,
        where=where,
        returning=returning,
        body=body,
    )
    return statement, params
