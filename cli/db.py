"""`thinbase db …`: the schema — its lint and its pgTAP tests."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer

from thinbase.cli.local_stack import LocalStack, StackError
from thinbase.cli.output import ExitCode, fail, progress
from thinbase.cli.paths import SQL_TESTS_DIR
from thinbase.cli.supabase_cli import SupabaseCliMissing, run_supabase

app = typer.Typer(help="The database schema: lint it and run its pgTAP tests.")

LINTED_SCHEMAS = "public,private"


def _target_url(db_url: str | None) -> str:
    """An explicit --db-url, else the local stack's migration role (never authenticator: lint needs DDL)."""
    if db_url:
        return db_url
    try:
        return LocalStack().migration_url()
    except StackError as exc:
        fail(str(exc), hint="run `thinbase local up`, or pass --db-url")


@app.command()
def lint(
    db_url: Annotated[str | None, typer.Option(help="Lint this database instead of the local stack.")] = None,
    schema: Annotated[str, typer.Option(help="Comma-separated schemas to check.")] = LINTED_SCHEMAS,
) -> None:
    """Type-check every PL/pgSQL function with `supabase db lint` (plpgsql_check); fails on any error."""
    try:
        result = run_supabase(
            [
                "db",
                "lint",
                f"--remote={_target_url(db_url)}",
                "--schema",
                schema,
                "--level",
                "warning",
                "--fail-on",
                "error",
            ]
        )
    except SupabaseCliMissing as exc:
        fail(str(exc))
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        fail("supabase db lint found errors", code=ExitCode.DRIFT)


@app.command("test")
def run_tests(
    files: Annotated[
        list[str] | None, typer.Argument(help="pgTAP files to run (default: sql_tests/NNN_*.sql).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every assertion.")] = False,
) -> None:
    """Run the pgTAP tests with pg_prove against the local stack, as the migration role, after installing the
    `tests` schema helpers (local only). The Docker-free equivalent of `supabase test db`."""
    stack = LocalStack()
    try:
        state = stack.state()
        stack.install_test_helpers()
    except StackError as exc:
        fail(str(exc), hint="run `thinbase local up` first")
    chosen = files or sorted(str(p) for p in SQL_TESTS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    if not chosen:
        fail("no pgTAP files found", code=ExitCode.NOT_FOUND)
    progress(f"running {len(chosen)} pgTAP files with pg_prove")
    env = {**os.environ, "PGPASSWORD": state.postgres_password}
    cmd = ["pg_prove", "-h", "127.0.0.1", "-p", str(state.port), "-U", "postgres", "-d", "postgres"]
    cmd += ["--verbose"] if verbose else []
    try:
        result = subprocess.run([*cmd, *chosen], env=env, check=False)  # noqa: S603
    except FileNotFoundError:
        fail(
            "pg_prove is not installed",
            hint="apt-get install libtap-parser-sourcehandler-pgtap-perl (or `make test`)",
        )
    if result.returncode != 0:
        raise typer.Exit(int(ExitCode.FAILURE))
