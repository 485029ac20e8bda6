"""`thinbase audit tail`: the audit log (private.audit_logs), newest entries, optionally followed."""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import datetime
from typing import Annotated, Any

import typer

from thinbase.cli.common import JsonOption, Session, parse_instant, session
from thinbase.cli.output import envelope, printable, progress, render, table

app = typer.Typer(help="The audit log: who changed what, and every admin action.")


def _changes(entry: dict[str, Any]) -> str:
    before, after = entry.get("before") or {}, entry.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ""
    if not before:
        return ", ".join(f"{k}={v}" for k, v in after.items() if v is not None and k not in ("updated_at",))[
            :120
        ]
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k != "updated_at")
    return ", ".join(f"{k}: {before.get(k)} → {after.get(k)}" for k in keys)[:120]


def _row(entry: dict[str, Any]) -> tuple[Any, ...]:
    actor = entry["actor_kind"] + (f" {entry['actor_user_id']}" if entry.get("actor_user_id") else "")
    if entry.get("actor_label"):  # who operated the service-role call (THINBASE_OPERATOR)
        actor += f" ({entry['actor_label']})"
    target = entry["entity"] + (f" {entry['entity_id']}" if entry.get("entity_id") else "")
    return (entry["id"], entry["created_at"], actor, entry["action"], target, _changes(entry))


COLUMNS = ("id", "when", "actor", "action", "entity", "changes")


def _actor_id(db: Session, actor: str | None) -> str | None:
    if actor is None:
        return None
    try:
        return str(uuid.UUID(actor))
    except ValueError:
        return str(db.call("operator_get_user", {"email": actor})["id"])


@app.command()
def tail(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new entries as they come.")
    ] = False,
    actor: Annotated[str | None, typer.Option(help="Only entries by this user (email or user id).")] = None,
    entity: Annotated[
        str | None, typer.Option(help="Only entries about this table, or one row of it: payments[:ID].")
    ] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. admin.set_role.")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(parser=parse_instant, help="Only entries since then: ISO 8601, or a duration ago (1h)."),
    ] = None,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=1, max=500, help="How many recent entries.")
    ] = 20,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between polls with --follow.")] = 2.0,
    duration: Annotated[
        float | None,
        typer.Option(min=0, help="With --follow: stop after this many seconds (default: Ctrl-C)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the most recent audit entries, oldest first; with --follow, keep printing new ones.

    With --json and --follow, each entry is printed as its own one-line envelope (JSON Lines)."""
    entity_name, _, entity_id = (entity or "").partition(":")
    with session(as_json) as db:
        filters = {
            "actor_user_id": _actor_id(db, actor),
            "entity": entity_name or None,
            "entity_id": entity_id or None,
            "action": action,
            "since": since.isoformat() if since else None,
        }
        entries: list[dict[str, Any]] = list(
            reversed(db.call("admin_list_audit", {**filters, "limit": lines}))
        )
        if not follow:
            render(as_json, entries, lambda: table(COLUMNS, (_row(e) for e in entries), title="audit log"))
            return
        if not as_json and entries:
            table(COLUMNS, (_row(e) for e in entries), title="audit log (following; Ctrl-C stops)")
        elif as_json:
            _print(entries, as_json)
        # Polling with after_id reads without writing audit entries of its own (see admin_list_audit).
        last = entries[-1]["id"] if entries else 0
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(
                    interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
                )
                while True:
                    new: list[dict[str, Any]] = db.call(
                        "admin_list_audit", {**filters, "after_id": last, "limit": 500}
                    )
                    _print(new, as_json)
                    if new:
                        last = new[-1]["id"]
                    if len(new) < 500:
                        break
        except KeyboardInterrupt:
            progress("stopped")


def _print(entries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for entry in entries:
            sys.stdout.write(json.dumps(json.loads(envelope(entry)), separators=(",", ":")) + "\n")
        sys.stdout.flush()
    else:
        for entry in entries:
            cells = ("" if cell is None else printable(str(cell)) for cell in _row(entry))
            sys.stdout.write("  ".join(cells) + "\n")
        sys.stdout.flush()
