"""`thinbase ratelimit …`: look at and reset the fixed-window counters in private.rate_limit_buckets.

Namespaces in use: `create_payment` (subject: user id), `ai` (user id), `waitlist` and `contact` (client
IP). Subjects are stored hashed; give the subject in clear and it is hashed the same way."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from thinbase.cli.common import JsonOption, session
from thinbase.cli.output import ExitCode, emit_json, fail, key_values, progress

app = typer.Typer(help="Rate limits: show one subject's counter, reset a subject or a whole namespace.")

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
