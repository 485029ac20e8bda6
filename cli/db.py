"""`thinbase db …`: the schema — push it, compare it with the target's history, generate types, lint it, run
its pgTAP tests and write the current schema (supabase/schema.sql)."""

from __future__ import annotations

import difflib
import enum
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer

from thinbase.cli import target as targets
from thinbase.cli.common import JsonOption, resolve_target, session
from thinbase.cli.output import ExitCode, emit_json, fail, printable, progress, progress_bar, table
from thinbase.errors import ConfigurationError, StackError, SupabaseCliMissing
from thinbase.local import migrations
from thinbase.local import schema as current_schema
from thinbase.local.paths import ROOT, SQL_TESTS_DIR, require_project
from thinbase.local.stack import LocalStack
from thinbase.local.supabase_cli import run_supabase, stream_supabase

app = typer.Typer(
    help="The database schema: push migrations, compare with the target's history, types, lint, tests, "
    "the current schema."
)

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


@app.command("schema")
def write_schema(
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 4 when the file differs from the local stack."),
    ] = False,
    file: Annotated[
        Path, typer.Option("--file", help="The schema file to write or check.", show_default=True)
    ] = current_schema.SCHEMA_FILE,
    as_json: JsonOption = False,
) -> None:
    """Write the current schema of `public` and `private`, dumped from the migrated local stack, to
    supabase/schema.sql: one file to read what the migrations add up to (grants are in the privilege
    allow-list). With --check (part of `make lint`), write nothing and exit 4 when the file is stale."""
    try:
        text = current_schema.dump()
    except StackError as exc:
        fail(str(exc), hint="run `thinbase local up` first", as_json=as_json)
    report = {"file": str(file), "lines": text.count("\n"), "checked": check}
    if not check:
        file.write_text(text)
        if as_json:
            emit_json({**report, "written": True, "up_to_date": True})
        progress(f"wrote {file} ({report['lines']} lines)")
        return
    committed = file.read_text() if file.is_file() else ""
    if committed == text:
        if as_json:
            emit_json({**report, "written": False, "up_to_date": True})
        progress(f"{file} is up to date")
        return
    message = f"{file} differs from the schema the migrations give (the local stack)"
    if as_json:
        emit_json({**report, "written": False, "up_to_date": False}, failed=(ExitCode.DRIFT, message))
    diff = difflib.unified_diff(
        committed.splitlines(), text.splitlines(), str(file), "the local stack", lineterm=""
    )
    lines = [printable(line) for line in diff]
    sys.stderr.write("\n".join(lines[:40] + (["…"] if len(lines) > 40 else [])) + "\n")
    fail(
        message,
        hint="run `thinbase db schema` and commit the file (after `thinbase local reset -y` if you changed a "
        "migration you had applied)",
        code=ExitCode.DRIFT,
    )


# -- status and push -------------------------------------------------------------------------------------


def _migration_target(as_json: bool = False) -> tuple[targets.Target, str, str]:
    try:
        require_project()  # what is pushed is the project's own supabase/migrations
    except ConfigurationError as exc:
        fail(str(exc), code=ExitCode.USAGE, as_json=as_json)
    target = resolve_target(as_json)
    try:
        url, label = targets.migration_url(target)
    except ConfigurationError as exc:
        fail(str(exc), as_json=as_json)
    return target, url, label


def _status_report(as_json: bool) -> dict[str, Any]:
    """Local files against the target's history: fully over a direct connection, by latest version
    through the API (a project configured with SUPABASE_URL only)."""
    target = resolve_target(as_json)
    local = migrations.local_migrations()
    if target.kind == "supabase":
        with session(as_json) as db:
            rows = db.call("health")
        version = rows[0]["migration_version"] if rows else None
        return migrations.summary(
            migrations.compare_latest(local, version), target.label, checked="latest_version"
        )
    try:
        url, label = targets.migration_url(target)
    except ConfigurationError as exc:
        fail(str(exc), as_json=as_json)
    try:
        applied = migrations.applied_migrations(url)
    except psycopg.Error as exc:
        fail(
            f"cannot read the migration history of {label}: {str(exc).strip()}",
            hint="is the database up and DATABASE_URL right? (`thinbase local up` for the local stack)",
            as_json=as_json,
        )
    return migrations.summary(migrations.compare(local, applied), label)


def _show_status(report: dict[str, Any], *, only_open: bool = False) -> None:
    rows = [
        (m["version"], m["name"], m["state"], m["detail"] or "")
        for m in report["migrations"]
        if not only_open or m["state"] != "applied"
    ]
    table(("version", "name", "state", "detail"), rows, title=f"migrations on {report['target']}")


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Compare the local migration files with the target's applied history.

    Exits 4 when a migration is pending or the history drifted (a file edited after it was applied, a
    version applied that no local file has): the first thing to check when billing or webhooks "feel
    inconsistent"."""
    report = _status_report(as_json)
    if as_json:
        drifted = f"{len(report['pending'])} pending, {len(report['drift'])} drifted"
        emit_json(report, failed=None if report["up_to_date"] else (ExitCode.DRIFT, drifted))
    else:
        _show_status(report, only_open=len(report["migrations"]) > 30)
        if report["up_to_date"]:
            progress(f"up to date: {report['applied']} migrations applied")
        else:
            progress(f"{len(report['pending'])} pending, {len(report['drift'])} drifted")
    if not report["up_to_date"]:
        raise typer.Exit(int(ExitCode.DRIFT))


@app.command()
def push(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be applied; change nothing.")
    ] = False,
    include_all: Annotated[
        bool,
        typer.Option(
            "--include-all", help="Also apply pending migrations older than the latest applied one."
        ),
    ] = False,
) -> None:
    """Apply pending migrations to the target with the real Supabase CLI (`supabase db push`).

    The target is DATABASE_URL's database, or the local stack (also when DATABASE_URL is the local stack's);
    asks for confirmation unless --yes."""
    target, url, label = _migration_target()
    report = _status_report(False)
    pending = [m for m in report["migrations"] if m["state"] == "pending"]
    drift = report["drift"]
    if drift:
        _show_status(report, only_open=True)
        fail(
            f"the history of {label} drifted from the local files ({len(drift)} migration(s))",
            hint="`thinbase db status` lists them; fix forward with a new migration, never edit a landed one",
            code=ExitCode.DRIFT,
        )
    if not pending:
        progress(f"{label} is up to date: nothing to push")
        return
    table(("version", "name", "detail"), [(m["version"], m["name"], m["detail"] or "") for m in pending])
    if dry_run:
        progress(f"{len(pending)} migration(s) would be applied to {label}")
        return
    if not yes and not typer.confirm(f"Apply {len(pending)} migration(s) to {label}?"):
        fail("nothing applied", code=ExitCode.FAILURE)
    args = ["db", "push", "--db-url", url, "--yes"]
    if target.kind == "local":
        args.append("--include-seed")  # as `thinbase local up`: the seed is for the local stack only
    if include_all:
        args.append("--include-all")
    try:
        with progress_bar("applying migrations", len(pending)) as advance:

            def on_line(line: str) -> None:
                if line.startswith("Applying migration"):
                    advance()

            code, output = stream_supabase(args, on_line)
    except SupabaseCliMissing as exc:
        fail(str(exc))
    except subprocess.TimeoutExpired as exc:
        fail(
            f"supabase db push did not finish within {exc.timeout:.0f} s and was stopped",
            hint="a migration may be waiting on a lock held elsewhere; `thinbase db status` shows what "
            "was applied",
        )
    if code != 0:
        sys.stderr.write(targets.scrub(output, url))
        fail(
            "supabase db push failed; nothing after the failing migration was applied", code=ExitCode.FAILURE
        )
    after = _status_report(False)
    if not after["up_to_date"]:
        _show_status(after, only_open=True)
        fail("migrations are still pending after the push", code=ExitCode.DRIFT)
    progress(f"applied {len(pending)} migration(s) to {label}")


# -- types -----------------------------------------------------------------------------------------------


class TypesLanguage(enum.StrEnum):
    python = "python"
    typescript = "typescript"


DEFAULT_TYPES_PATH = {
    TypesLanguage.python: ROOT / "thinbase" / "db" / "types.py",
    TypesLanguage.typescript: ROOT / "supabase" / "types" / "database.ts",
}
# The generated Python module imports pydantic and uses typing forms our linters reject; it is generated,
# not written, so both are told to leave it alone.
PYTHON_TYPES_HEADER = (
    "# Generated by `thinbase db types --lang python` (supabase gen types); do not edit.\n"
    "# ruff: noqa\n"
    "# mypy: ignore-errors\n"
)


def _strip_notices(output: str) -> str:
    """The generated code without the notices (`│`, `▲ …`) the Supabase CLI may print before it on stdout."""
    lines = output.splitlines(keepends=True)
    while lines and (not lines[0].strip() or lines[0].lstrip()[:1] in ("│", "▲")):
        lines.pop(0)
    return "".join(lines)


@app.command()
def types(
    lang: Annotated[TypesLanguage, typer.Option("--lang", help="Language of the generated types.")] = (
        TypesLanguage.typescript
    ),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write here (default: thinbase/db/types.py or supabase/types/database.ts); `-` for stdout.",
        ),
    ] = None,
    schema: Annotated[str, typer.Option(help="Comma-separated schemas to generate types for.")] = "public",
) -> None:
    """Generate types for the target's schema with `supabase gen types` and write them into the repository."""
    target, url, label = _migration_target()
    # The local stack has no TLS; saying so keeps the CLI from printing its TLS fallback notice into stdout.
    remote = f"{url}?sslmode=disable" if target.kind == "local" and "?" not in url else url
    try:
        args = ["gen", "types", "--lang", lang.value, f"--remote={remote}", "--schema", schema]
        result = run_supabase(args)
    except SupabaseCliMissing as exc:
        fail(str(exc))
    if result.returncode != 0 or not result.stdout.strip():
        sys.stderr.write(targets.scrub(result.stderr, remote))
        fail(f"supabase gen types failed for {label}")
    generated = _strip_notices(result.stdout)
    text = generated if lang is TypesLanguage.typescript else PYTHON_TYPES_HEADER + generated
    if output is not None and str(output) == "-":
        sys.stdout.write(text)
        return
    path = output or DEFAULT_TYPES_PATH[lang]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    progress(f"wrote {lang.value} types for schema {schema} of {label} to {path}")
