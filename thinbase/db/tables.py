"""Table reads and updates as PostgREST runs them, for the local gateway's /rest/v1/{table}. A leaf.

The gateway parses PostgREST's query string into these values; an adapter that can run them implements
`TableAccess` (the psycopg adapter does). The subset is the one the gateway accepts: columns (optionally
renamed), one condition per filter from `OPERATORS` (optionally negated), ordering, limit/offset, an exact
count, and an update of named columns. Everything runs as the caller, so grants and RLS decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from thinbase.db.port import Caller

Operator = Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "like", "ilike"]
OPERATORS: tuple[Operator, ...] = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "like", "ilike")
# `is` compares with one of these, as PostgREST's `is.null` etc.
IS_VALUES = ("null", "true", "false", "unknown")


@dataclass(frozen=True)
class Column:
    name: str
    alias: str | None = None

    @property
    def label(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Filter:
    """`column=[not.]operator.value`. `value` is text (PostgreSQL casts it to the column's type), a tuple
    for `in`, one of IS_VALUES for `is`; like/ilike patterns already have PostgREST's `*` as `%`."""

    column: str
    operator: Operator
    value: str | tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default for the direction


@dataclass(frozen=True)
class TableRead:
    table: str
    columns: tuple[Column, ...] | None = None  # None: every column (`select=*`)
    filters: tuple[Filter, ...] = ()
    order: tuple[Order, ...] = ()
    limit: int | None = None
    offset: int = 0
    count: bool = False  # Prefer: count=exact


@dataclass(frozen=True)
class TableUpdate:
    table: str
    values: Mapping[str, Any]  # column -> JSON value
    filters: tuple[Filter, ...]
    returning: tuple[Column, ...] | None = None  # None: every column; only read with return=representation
    singular: bool = False  # Accept: application/vnd.pgrst.object+json: exactly one row, else roll back


@dataclass(frozen=True)
class TableRows:
    rows: Sequence[dict[str, Any]]
    # A read: the rows matching the filters, when counted. An update: the rows it changed (always known).
    total: int | None = None


class SingularityError(Exception):
    """An update asked to touch exactly one row touched `rows`; it was rolled back (PostgREST PGRST116)."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"the update matched {rows} rows")
        self.rows = rows


@runtime_checkable
class TableAccess(Protocol):
    """Run table reads and updates as `caller` (role, claims and headers as PostgREST sets them)."""

    async def read_table(
        self, read: TableRead, *, caller: Caller, headers: Mapping[str, str] | None = None
    ) -> TableRows: ...

    async def update_table(
        self,
        update: TableUpdate,
        *,
        caller: Caller,
        headers: Mapping[str, str] | None = None,
        representation: bool = False,
    ) -> TableRows: ...
