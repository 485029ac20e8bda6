"""`thinbase ratelimit …`: look at and reset the fixed-window counters in private.rate_limit_buckets.

Namespaces in use: `create_payment` (subject: user id), `ai` (user id), `waitlist` and `contact` (client
IP). Subjects are stored hashed; give the subject in clear and it is hashed the same way.

`storage` switches the counters between a logged table (the default) and an unlogged one. Only the
table's owner, the migration role, may alter it (the API roles cannot), so it needs a direct connection:
DATABASE_URL (a project's `postgres` connection string), or the local stack's migration role."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
import typer

from thinbase.cli import target as targets
from thinbase.cli.common import JsonOption, resolve_target, session
from thinbase.cli.output import ExitCode, emit_json, fail, key_values, progress
from thinbase.errors import ConfigurationError

app = typer.Typer(
    help="Rate limits: show one subject's counter, reset a subject or a whole namespace, choose the storage."
)

NamespaceArgument = Annotated[
    str, typer.Argument(help="The limit's namespace: create_payment, ai, waitlist, contact.")
]


@app.command()
def show(
    namespace: NamespaceArgument,
    subject: Annotated[str, typer.Argument(help="Who is counted: a user id, or a client IP address.")],
    as_json: JsonOption = False,
) -> None:
    """Show how many requests SUBJECT made in the current window of NAMESPACE, and when it resets.

    Exits 3 when the subject has no counter (nothing counted, or its window ended and was cleaned up)."""
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call(
            "operator_get_rate_limit", {"namespace": namespace, "subject": subject}
        )
    if not rows:
        fail(
            f"no counter for that subject in {namespace}",
            hint="nothing was counted in a current window",
            code=ExitCode.NOT_FOUND,
            as_json=as_json,
        )
    bucket = {"namespace": namespace, **rows[0]}
    if as_json:
        emit_json(bucket)
        return
    key_values(
        [
            ("namespace", namespace),
            ("requests counted", bucket["hits"]),
            ("window start", bucket["window_start"]),
            ("resets at", bucket["reset_at"]),
            ("current window", "yes" if bucket["active"] else "no (ended: counts nothing)"),
        ],
        title="rate limit",
    )


@app.command()
def reset(
    namespace: NamespaceArgument,
    subject: Annotated[
        str | None, typer.Argument(help="Reset only this subject (default: every subject in the namespace).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete counters so the next requests start a fresh window: one subject's, or a whole namespace's."""
    with session(as_json) as db:
        removed = int(db.call("admin_reset_rate_limit", {"namespace": namespace, "subject": subject}))
    if as_json:
        emit_json({"namespace": namespace, "subject_given": subject is not None, "removed": removed})
    else:
        progress(f"removed {removed} counter(s) from {namespace}")


STORAGE = {"logged": "set logged", "unlogged": "set unlogged"}
TRADES = {
    "logged": "every count is in the WAL: it survives a crash and reaches replicas",
    "unlogged": "no WAL for the counters: a crash empties them (every current window starts over: fail open "
    "for one window) and replicas have none",
}


@app.command()
def storage(
    choice: Annotated[
        str | None,
        typer.Argument(
            help="logged (the default) or unlogged; without it, show which is in use.",
            metavar="[logged|unlogged]",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show or choose how the counters are stored: logged (crash-safe, replicated) or unlogged (no WAL).

    Runs as the migration role over a direct connection (ALTER TABLE private.rate_limit_buckets; the table is
    rewritten under a brief exclusive lock). A crash of the database empties an unlogged table: each
    subject then gets a fresh allowance for the rest of its window."""
    if choice is not None and choice not in STORAGE:
        fail(f"unknown storage {choice!r}", hint="logged or unlogged", code=ExitCode.USAGE, as_json=as_json)
    target = resolve_target(as_json)
    try:
        url, label = targets.migration_url(target)
    except ConfigurationError as exc:
        fail(str(exc), code=ExitCode.USAGE, as_json=as_json)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            before = _current(conn)
            if choice is not None and choice != before:
                conn.execute(f"alter table private.rate_limit_buckets {STORAGE[choice]}")
            now = _current(conn)
    except psycopg.errors.InsufficientPrivilege as exc:
        fail(
            f"{label} may not alter the rate-limit table: {exc.diag.message_primary}",
            hint="connect as the migration role, the owner (a project's `postgres` connection string)",
            as_json=as_json,
        )
    except psycopg.Error as exc:
        fail(f"cannot reach {label}: {str(exc).strip()}", hint="is DATABASE_URL right?", as_json=as_json)
    changed = choice is not None and choice != before
    if as_json:
        emit_json({"storage": now, "changed": changed, "previous": before, "trade": TRADES[now]})
        return
    if choice is not None:
        progress(
            f"rate-limit counters: {before} → {now}" if changed else f"rate-limit counters: already {now}"
        )
    key_values([("storage", now), ("what it trades", TRADES[now])], title="rate-limit storage")


def _current(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "select case c.relpersistence when 'u' then 'unlogged' else 'logged' end "
        "from pg_catalog.pg_class as c where c.oid = 'private.rate_limit_buckets'::pg_catalog.regclass"
    ).fetchone()
    if row is None:  # pragma: no cover - regclass raises first
        raise psycopg.DatabaseError("private.rate_limit_buckets is missing")
    return str(row[0])
