"""Which backend the CLI talks to (cli/target.py); the migration-history comparison (thinbase/local)."""

from __future__ import annotations

from pathlib import Path

import pytest

from thinbase.cli import target
from thinbase.errors import ConfigurationError
from thinbase.local import migrations
from thinbase.local.stack import LocalStack
from thinbase.settings import load_settings


def test_database_url_wins_and_is_shown_without_its_password(stack: LocalStack) -> None:
    chosen = target.resolve(
        load_settings(env={"DATABASE_URL": "postgresql://postgres:s3cret@db.example.com:5432/postgres"})
    )
    assert chosen.kind == "database_url"
    assert "s3cret" not in chosen.label
    assert chosen.label == "postgresql://postgres:***@db.example.com:5432/postgres"
    assert target.migration_url(chosen)[0].endswith("@db.example.com:5432/postgres")


def test_the_local_stack_by_default_with_its_keys(stack: LocalStack) -> None:
    chosen = target.resolve(load_settings(env={"THINBASE_PORT": "54999"}))
    assert chosen.kind == "local"
    assert chosen.settings.database_url == stack.authenticator_url()
    assert chosen.settings.service_role_key
    assert chosen.settings.supabase_url == "http://127.0.0.1:54999"
    # db push/status use the migration role, never the API role authenticator.
    assert target.migration_url(chosen)[0] == stack.migration_url()


def test_the_local_stacks_own_database_url_still_migrates_as_the_migration_role(stack: LocalStack) -> None:
    chosen = target.resolve(load_settings(env={"DATABASE_URL": stack.authenticator_url()}))
    assert chosen.kind == "local"
    assert target.migration_url(chosen)[0] == stack.migration_url()


def test_a_project_through_its_api_has_no_migration_history(stack: LocalStack) -> None:
    chosen = target.resolve(
        load_settings(
            env={"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "sb_secret_x"}
        )
    )
    assert chosen.kind == "supabase"
    assert "sb_secret_x" not in chosen.label
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        target.migration_url(chosen)


def test_a_project_url_without_the_service_key_is_refused_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import thinbase.cli.target as module

    monkeypatch.setattr(module, "_local_stack", lambda: None)
    with pytest.raises(ConfigurationError, match="SUPABASE_SERVICE_ROLE_KEY"):
        target.resolve(load_settings(env={"SUPABASE_URL": "https://abc.supabase.co"}))
    with pytest.raises(ConfigurationError, match="no database"):
        target.resolve(load_settings(env={}))


def _local(tmp_path: Path, files: dict[str, str]) -> list[migrations.LocalMigration]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return migrations.local_migrations(tmp_path)


def test_compare_finds_pending_and_every_kind_of_drift(tmp_path: Path) -> None:
    local = _local(
        tmp_path,
        {
            "20260101000000_one.sql": "create table a (id int);\ncreate table b (id int);\n",
            "20260102000000_two.sql": "create table c (id int);",
            "20260103000000_three.sql": "create table d (id int);",
            "20260104000000_four.sql": "create table e (id int);",
            "20260105000000_five.sql": "create table f (id int);",
            "README.md": "not a migration",
        },
    )
    applied = [
        # The CLI stores statements without their semicolons, with its own white space.
        migrations.AppliedMigration(
            "20260101000000", "one", ("create table a (id int)", "\ncreate table b (id int)")
        ),
        migrations.AppliedMigration("20260102000000", "second", ("create table c (id int)",)),
        migrations.AppliedMigration("20260103000000", "three", ("create table d (id bigint)",)),
        migrations.AppliedMigration("20260104000000", "four", ("create table e (id int)",)),
        migrations.AppliedMigration("20260104500000", "gone", ("select 1",)),
    ]
    states = {s.version: s.state for s in migrations.compare(local, applied)}
    assert states == {
        "20260101000000": "applied",
        "20260102000000": "renamed",
        "20260103000000": "modified",
        "20260104000000": "applied",
        "20260104500000": "missing",
        "20260105000000": "pending",
    }
    report = migrations.summary(migrations.compare(local, applied), "t")
    assert report["pending"] == ["20260105000000"]
    assert [d["state"] for d in report["drift"]] == ["renamed", "modified", "missing"]
    assert report["up_to_date"] is False


def test_a_pending_migration_older_than_the_history_says_include_all(tmp_path: Path) -> None:
    local = _local(tmp_path, {"20260101000000_a.sql": "select 1;", "20260102000000_b.sql": "select 2;"})
    applied = [migrations.AppliedMigration("20260102000000", "b", ("select 2",))]
    (first, second) = migrations.compare(local, applied)
    assert first.state == "pending"
    assert first.detail is not None
    assert "--include-all" in first.detail
    assert second.state == "applied"


def test_compare_latest_works_from_one_version(tmp_path: Path) -> None:
    local = _local(tmp_path, {"20260101000000_a.sql": "", "20260102000000_b.sql": ""})
    assert [s.state for s in migrations.compare_latest(local, "20260101000000")] == ["applied", "pending"]
    assert [s.state for s in migrations.compare_latest(local, "20260109000000")] == [
        "applied",
        "applied",
        "missing",
    ]
    assert [s.state for s in migrations.compare_latest(local, None)] == ["pending", "pending"]


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://postgres:s3cret@db.example.com:5432/postgres",
        "postgresql://postgres@db.example.com:5432/postgres?password=s3cret&sslmode=require",
        "host=db.example.com port=5432 dbname=postgres user=postgres password=s3cret",
    ],
)
def test_no_form_of_connection_string_shows_its_password(stack: LocalStack, dsn: str) -> None:
    chosen = target.resolve(load_settings(env={"DATABASE_URL": dsn}))
    assert chosen.label == "postgresql://postgres:***@db.example.com:5432/postgres"
    assert target.scrub(f"error connecting with {dsn} (password s3cret)", dsn).count("s3cret") == 0


def test_a_project_url_without_the_key_never_falls_back_to_the_local_stack(stack: LocalStack) -> None:
    assert stack.load_state() is not None  # the local stack exists, and still is not chosen
    with pytest.raises(ConfigurationError, match="SUPABASE_SERVICE_ROLE_KEY is not set"):
        target.resolve(load_settings(env={"SUPABASE_URL": "https://prod-project.supabase.co"}))


@pytest.mark.parametrize("url", ["ftp://abc.supabase.co", "https://abc.supabase.co:99999", "abc.supabase.co"])
def test_a_malformed_project_url_is_a_configuration_error(stack: LocalStack, url: str) -> None:
    with pytest.raises(ConfigurationError, match="SUPABASE_URL"):
        target.resolve(load_settings(env={"SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": "sb_secret_x"}))
