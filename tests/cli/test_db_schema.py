"""`thinbase db schema [--check]`: supabase/schema.sql from the migrated local stack, the same bytes every
time, and a check that fails (exit 4) when the file differs."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import data, envelope, flat, run
from thinbase.local import schema
from thinbase.local.stack import LocalStack


def test_two_runs_write_the_same_bytes(stack: LocalStack, tmp_path: Path) -> None:
    first, second = tmp_path / "first.sql", tmp_path / "second.sql"
    for path in (first, second):
        result = run("db", "schema", "--file", str(path))
        assert result.exit_code == 0, result.output
        assert f"wrote {path}" in flat(result.stderr)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text() == schema.dump(stack)


def test_the_file_is_the_current_schema_without_pg_dumps_own_header(stack: LocalStack) -> None:
    text = schema.dump(stack)
    assert text.startswith(schema.HEADER)
    assert "\\restrict thinbase\n" in text
    assert "\\unrestrict thinbase\n" in text
    assert "Dumped from database version" not in text
    assert "PostgreSQL database dump" not in text
    # What is live, once: the last definition of each function, the tables, no grants.
    assert text.count("CREATE FUNCTION public.apply_payment_event(") == 1
    assert "private.payment_transition(" in text
    assert "CREATE TABLE public.payment_providers (" in text
    assert "CREATE SCHEMA private;" in text
    assert "GRANT " not in text
    assert "CREATE SCHEMA tests;" not in text


def test_check_passes_on_a_current_file(stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "schema.sql"
    assert run("db", "schema", "--file", str(path)).exit_code == 0
    result = run("db", "schema", "--check", "--file", str(path))
    assert result.exit_code == 0, result.output
    assert "is up to date" in flat(result.stderr)


def test_check_fails_on_a_planted_change(stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "schema.sql"
    assert run("db", "schema", "--file", str(path)).exit_code == 0
    planted = path.read_text().replace("checkout boolean DEFAULT true NOT NULL", "checkout boolean NOT NULL")
    assert planted != path.read_text()
    path.write_text(planted)
    result = run("db", "schema", "--check", "--file", str(path))
    assert result.exit_code == 4, result.output
    stderr = flat(result.stderr)
    assert "differs from the schema the migrations give" in stderr
    assert "hint: run `thinbase db schema` and commit the file" in stderr
    assert "-    checkout boolean NOT NULL" in result.stderr
    assert "+    checkout boolean DEFAULT true NOT NULL" in result.stderr
    assert path.read_text() == planted, "--check writes nothing"


def test_check_fails_without_a_file(stack: LocalStack, tmp_path: Path) -> None:
    result = run("db", "schema", "--check", "--file", str(tmp_path / "missing.sql"))
    assert result.exit_code == 4, result.output


def test_normalize_replaces_pg_dumps_header_and_footer() -> None:
    dumped = (
        "--\n-- PostgreSQL database dump\n--\n\n\\restrict thinbase\n\n"
        "-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)\n"
        "-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)\n\n"
        "SET statement_timeout = 0;\n\nCREATE SCHEMA private;\n\n"
        "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict thinbase\n\n"
    )
    assert schema.normalize(dumped) == (
        schema.HEADER + "\\restrict thinbase\n\nSET statement_timeout = 0;\n\n"
        "CREATE SCHEMA private;\n\n\\unrestrict thinbase\n"
    )


def test_json_reports_the_check(stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "schema.sql"
    written = data(run("db", "schema", "--json", "--file", str(path)))
    assert written == {
        "file": str(path), "lines": path.read_text().count("\n"), "checked": False, "written": True,
        "up_to_date": True,
    }  # fmt: skip
    assert data(run("db", "schema", "--check", "--json", "--file", str(path)))["up_to_date"] is True
    path.write_text(path.read_text() + "-- planted\n")
    result = run("db", "schema", "--check", "--json", "--file", str(path))
    assert result.exit_code == 4
    parsed = envelope(result)
    assert parsed["ok"] is False
    assert parsed["data"]["up_to_date"] is False
    assert parsed["error"]["code"] == "drift"
