"""`thinbase admin …`: who operates the product. user_roles in the database is the only source of truth;
ADMIN_EMAILS is the bootstrap list that `admin bootstrap` writes into it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from thinbase.cli.common import JsonOption, session
from thinbase.cli.output import ExitCode, emit_json, fail, progress, render, table
from thinbase.settings import load_settings

app = typer.Typer(help="Admins: list, grant, revoke, and sync the ADMIN_EMAILS bootstrap list.")

EmailArgument = Annotated[str, typer.Argument(help="The user's email address (any case).")]


@app.command("list")
def list_admins(as_json: JsonOption = False) -> None:
    """List admins, and every address on the bootstrap list (role empty: nobody signed up with it yet)."""
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call("operator_list_admins")
    render(
        as_json,
        rows,
        lambda: table(
            ("email", "role", "bootstrap", "name", "since", "last sign-in"),
            (
                (
                    r["email"],
                    r["role"] or "(not signed up)",
                    "yes" if r["bootstrap"] else "",
                    r["full_name"],
                    r["role_updated_at"],
                    r["last_sign_in_at"],
                )
                for r in rows
            ),
            title="admins",
        ),
    )


def _set_role(email: str, role: str, as_json: bool) -> None:
    with session(as_json) as db:
        rows: list[dict[str, Any]] = db.call("admin_set_role", {"email": email, "role": role})
    row = rows[0]
    if as_json:
        emit_json(row)
    elif row["previous_role"] == role:
        progress(f"{row['user_email']} already was {role}")
    else:
        progress(f"{row['user_email']}: {row['previous_role'] or 'no role'} → {role}")


@app.command()
def grant(email: EmailArgument, as_json: JsonOption = False) -> None:
    """Make a signed-up user an admin (exit 3 when no user has that email)."""
    _set_role(email, "admin", as_json)


@app.command()
def revoke(email: EmailArgument, as_json: JsonOption = False) -> None:
    """Make an admin a member again. Refused for the last admin (exit 1)."""
    _set_role(email, "member", as_json)


@app.command()
def bootstrap(
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Also demote admins whose address is not in ADMIN_EMAILS (never the last)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Sync ADMIN_EMAILS into the database (the bootstrap list), making listed users admins.

    Addresses on the list that nobody has signed up with yet become admin at sign-up. With --prune, admins
    not on the list are demoted; the last admin is never removed."""
    emails = load_settings().admin_emails
    if not emails:
        fail(
            "ADMIN_EMAILS is empty",
            hint="set ADMIN_EMAILS=you@example.com,…",
            code=ExitCode.USAGE,
            as_json=as_json,
        )
    with session(as_json) as db:
        results: list[dict[str, Any]] = db.call("admin_bootstrap", {"emails": list(emails)})
        demoted: list[str] = []
        if prune:
            admins: list[dict[str, Any]] = db.call("operator_list_admins")
            others = [r["email"] for r in admins if r["role"] == "admin" and r["email"] not in emails]
            # Checked before any demotion: the database refuses the last one anyway, but the sync would
            # then stop half done.
            if others and len(others) == sum(1 for r in admins if r["role"] == "admin"):
                fail(
                    "--prune would remove every admin: no address in ADMIN_EMAILS is a signed-up user",
                    hint="sign up with one of the ADMIN_EMAILS first, then run this again",
                    as_json=as_json,
                )
            for email in others:
                db.call("admin_set_role", {"email": email, "role": "member"})
                demoted.append(email)
    data = {"bootstrap": results, "demoted": demoted}
    if as_json:
        emit_json(data)
        return
    table(("email", "result"), [(r["email"], r["result"]) for r in results], title="ADMIN_EMAILS")
    for email in demoted:
        progress(f"{email}: admin → member (not in ADMIN_EMAILS)")
