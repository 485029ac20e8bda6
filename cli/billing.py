"""`thinbase billing run`: the billing cycle (run_billing_cycle), which pg_cron also runs every 15 minutes
where it is installed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from thinbase.cli.common import JsonOption, parse_instant, session
from thinbase.cli.output import emit_json, progress, table

app = typer.Typer(help="The billing cycle: end periods, apply grace, expire checkouts, clean up.")


@app.command()
def run(
    now: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_instant,
            help="Run as of this instant (ISO 8601, UTC unless a zone is given; default: now).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the billing cycle once and print what changed.

    Ended periods (past_due or canceled), grace periods over (back on the default plan), expired
    checkouts, cleaned-up counters and AI holds. Idempotent: a second run at the same instant changes
    nothing."""
    args = {"now": now.isoformat()} if now else {}
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call("run_billing_cycle", args)
    if as_json:
        emit_json({"now": now.isoformat() if now else None, "changes": rows})
        return
    if rows:
        table(
            ("change", "subject", "before", "after"),
            ((r["change"], r["subject_id"], r["before_state"], r["after_state"]) for r in rows),
            title="billing cycle",
        )
    progress(f"{len(rows)} change(s)" if rows else "nothing to change")
