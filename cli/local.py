"""`thinbase local …`: the Docker-free local Supabase stack."""

from __future__ import annotations

import os
import re
from typing import Annotated

import psycopg
import typer

from thinbase.cli import fakes, mail
from thinbase.cli.output import ExitCode, emit_json, fail, key_values, progress
from thinbase.errors import StackError
from thinbase.local.stack import LocalStack
from thinbase.settings import load_settings

app = typer.Typer(
    help="Run the local Supabase stand-in: PostgreSQL 15, the platform roles and schemas, our migrations."
)
user_app = typer.Typer(help="Users on the local stack (the stand-in for Supabase Auth sign-ups).")
app.add_typer(user_app, name="user")
app.add_typer(mail.app, name="mail")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON envelope instead of text.")]
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _edge_port() -> int:
    return load_settings().port


@app.command()
def up(
    with_fakes: Annotated[
        bool,
        typer.Option(
            "--fakes",
            help="Also start the local fakes (payments, AI, email) in the background; "
            "`thinbase serve --local` uses them and `thinbase local down` stops them.",
        ),
    ] = False,
) -> None:
    """Create (first time) and start the local stack, then apply pending migrations and the seed.

    Idempotent: a running, up-to-date stack is left as it is."""
    stack = LocalStack()
    try:
        state = stack.up(progress)
    except StackError as exc:
        fail(str(exc), hint="`thinbase local status` shows the stack; its log is under .local/")
    progress(f"ready: postgres on 127.0.0.1:{state.port}; `thinbase local env` prints the keys")
    if with_fakes:
        running = fakes.start_background(f"http://127.0.0.1:{_edge_port()}")
        for name, url in sorted(running.services.items()):
            progress(f"{name:<13} fake   {url}")
        progress(f"fakes running (pid {running.pid}, log .local/{fakes.LOG_NAME}); `serve --local` uses them")


@app.command()
def down() -> None:
    """Stop the local stack's PostgreSQL (data is kept), and the fakes of `local up --fakes`."""
    if fakes.stop_background():
        progress("fakes stopped")
    try:
        stopped = LocalStack().down(progress)
    except StackError as exc:
        fail(str(exc))
    progress("stopped" if stopped else "not running")


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete the local cluster and create it again from the platform stand-in, migrations and seed."""
    if not yes and not typer.confirm("Discard all local data and recreate the stack?"):
        raise typer.Exit(int(ExitCode.FAILURE))
    try:
        LocalStack().reset(progress)
    except StackError as exc:
        fail(str(exc))
    progress("local stack recreated")


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Whether the stack exists and runs, its port, and the migrations applied."""
    try:
        info = LocalStack().status()
    except (StackError, psycopg.Error) as exc:
        fail(str(exc), as_json=as_json)
    running = bool(info.get("running"))
    if as_json:
        emit_json(info, failed=None if running else (ExitCode.FAILURE, "the local stack is not running"))
    else:
        key_values(((key.replace("_", " "), value) for key, value in info.items()), title="local stack")
    if not running:
        fail("the local stack is not running", hint="`thinbase local up` (or `make dev`) starts it")


@app.command()
def env(as_json: JsonOption = False) -> None:
    """Print the local stack's settings as plain KEY=value lines (with --json: one object).

    DATABASE_URL, SUPABASE_URL, SUPABASE_JWT_SECRET, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY."""
    try:
        values = LocalStack().env(_edge_port())
    except StackError as exc:
        fail(str(exc), hint="run `thinbase local up` first", as_json=as_json)
    if as_json:
        emit_json(values)
        return
    for key, value in values.items():
        print(f"{key}={value}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def psql(
    ctx: typer.Context,
    superuser: Annotated[
        bool, typer.Option("--superuser", help="Connect as supabase_admin instead of postgres.")
    ] = False,
) -> None:
    """Open psql on the local database as the migration role `postgres` (extra arguments go to psql)."""
    stack = LocalStack()
    try:
        target = stack.superuser_conninfo() if superuser else stack.migration_url()
    except StackError as exc:
        fail(str(exc))
    os.execvp("psql", ["psql", "-d", target, *ctx.args])  # noqa: S606,S607 - hands the terminal to psql


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The new user's email address.")],
    password: Annotated[
        str | None, typer.Option(help="Set a password (stored bcrypt-hashed, as Supabase Auth does).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="full_name in the user's metadata.")] = None,
    expires_in: Annotated[int, typer.Option(help="Access token lifetime in seconds.", min=60)] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Sign a user up on the local stack (signup triggers fire) and print an access token for them."""
    if not EMAIL_PATTERN.match(email):
        fail(f"not an email address: {email!r}", code=ExitCode.USAGE, as_json=as_json)
    stack = LocalStack()
    metadata = {"full_name": name} if name else {}
    try:
        user = stack.create_user(email, password=password, metadata=metadata)
        token = stack.user_token(user, expires_in=expires_in)
    except psycopg.errors.UniqueViolation:
        fail(f"a user with email {email} already exists", as_json=as_json)
    except (StackError, psycopg.Error) as exc:
        fail(str(exc), hint="is the stack running? `thinbase local up`", as_json=as_json)
    if as_json:
        emit_json({"id": str(user["id"]), "email": user["email"], "access_token": token})
    else:
        print(token)
        progress(f"user {user['email']} id {user['id']}")


@user_app.command("token")
def user_token(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    expires_in: Annotated[int, typer.Option(help="Access token lifetime in seconds.", min=60)] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Print a fresh access token for an existing local user (a new session, as a sign-in starts one)."""
    stack = LocalStack()
    try:
        user = stack.find_user(email)
        if user is None:
            fail(
                f"no local user with email {email}",
                code=ExitCode.NOT_FOUND,
                hint="`thinbase local user create EMAIL` signs one up",
                as_json=as_json,
            )
        token = stack.user_token(user, expires_in=expires_in)
    except (StackError, psycopg.Error) as exc:
        fail(str(exc), hint="is the stack running? `thinbase local up`", as_json=as_json)
    if as_json:
        emit_json({"id": str(user["id"]), "email": user["email"], "access_token": token})
    else:
        print(token)
