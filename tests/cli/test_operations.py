"""`thinbase ratelimit …`, `audit tail`, `billing run`, `contact resend` and `doctor` on the local stack."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli.conftest import CONFIG_NAMES, data, error, flat, run, superuser_sql, unique
from tests.client_ips import fresh_ip
from tests.conftest import User
from thinbase import tokens
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.fakes.mail import FakeResend
from thinbase.local import migrations
from thinbase.local.stack import LocalStack

# -- ratelimit ----------------------------------------------------------------------------------------------


def test_ratelimit_show_and_reset(stack: LocalStack, db: PsycopgDatabase) -> None:
    namespace = unique("cli-rl")
    for subject in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
        db.rpc(
            "consume_rate_limit",
            {"namespace": namespace, "subject": subject, "max_requests": 5, "window_seconds": 3600},
            caller=Caller.service(),
        )
    shown = data(run("ratelimit", "show", namespace, "10.0.0.1", "--json"))
    assert (shown["namespace"], shown["hits"], shown["active"]) == (namespace, 2, True)
    assert datetime.fromisoformat(shown["reset_at"]) > datetime.now(UTC)
    table = run("ratelimit", "show", namespace, "10.0.0.1")
    assert table.exit_code == 0
    assert "requests counted" in table.stdout
    assert data(run("ratelimit", "reset", namespace, "10.0.0.1", "--json"))["removed"] == 1
    assert "no counter" in error(run("ratelimit", "show", namespace, "10.0.0.1", "--json"), 3)["message"]
    everything = run("ratelimit", "reset", namespace)
    assert everything.exit_code == 0
    assert "removed 1 counter(s)" in flat(everything.stderr)


def test_ratelimit_refuses_an_empty_namespace(stack: LocalStack) -> None:
    assert error(run("ratelimit", "show", "", "x", "--json"), 2)["message"].startswith("invalid_argument")
    assert run("ratelimit", "show", "only-namespace").exit_code == 2


# -- audit tail ---------------------------------------------------------------------------------------------


def test_audit_tail_filters_by_entity_and_actor(stack: LocalStack, make_user: Callable[..., User]) -> None:
    user = make_user("cli-audit")
    run("admin", "grant", user.email)
    entries = data(run("audit", "tail", "--entity", f"user_roles:{user.id}", "--json"))
    # The row trigger's entries and the admin RPC's own, oldest first.
    assert [e["action"] for e in entries] == ["user_roles.insert", "user_roles.update", "admin.set_role"]
    assert entries[0]["id"] < entries[1]["id"] < entries[2]["id"]
    assert entries[2]["actor_kind"] == "service"
    admin_actions = data(
        run("audit", "tail", "--action", "admin.set_role", "--since", "10m", "-n", "500", "--json")
    )
    assert user.id in [e["entity_id"] for e in admin_actions]
    # As the user (now an admin) changes their own profile, --actor finds it by email.
    db_user = PsycopgDatabase(stack.authenticator_url(), max_size=1)
    try:
        db_user.rpc("update_profile", {"full_name": "Audited Person"}, caller=user.caller)
    finally:
        db_user.close()
    mine = data(run("audit", "tail", "--actor", user.email, "--json"))
    assert [(e["action"], e["actor_kind"]) for e in mine] == [("profiles.update", "admin")]
    assert mine == data(run("audit", "tail", "--actor", user.id, "--json"))
    table = run("audit", "tail", "--entity", f"user_roles:{user.id}")
    assert table.exit_code == 0
    assert "role: member → admin" in flat(table.stdout)
    run("admin", "revoke", user.email)


def test_audit_tail_follow_prints_new_entries_as_json_lines(
    stack: LocalStack, make_user: Callable[..., User]
) -> None:
    user = make_user("cli-follow")

    def later() -> None:
        time.sleep(1.0)
        run("admin", "grant", user.email)

    worker = threading.Thread(target=later)
    worker.start()
    result = run(
        "audit",
        "tail",
        "--follow",
        "--entity",
        f"user_roles:{user.id}",
        "--interval",
        "0.3",
        "--duration",
        "3",
        "--json",
    )
    worker.join()
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(line) == {"ok", "data", "error"} and line["ok"] for line in lines)
    assert [line["data"]["action"] for line in lines] == [
        "user_roles.insert",
        "user_roles.update",
        "admin.set_role",
    ]
    run("admin", "revoke", user.email)


def test_audit_tail_refuses_bad_filters(stack: LocalStack) -> None:
    assert run("audit", "tail", "--since", "a while").exit_code == 2
    assert error(run("audit", "tail", "--actor", "nobody@example.invalid", "--json"), 3)
    assert run("audit", "tail", "--lines", "0").exit_code == 2


# -- billing run --------------------------------------------------------------------------------------------


def end_period(stack: LocalStack, user: User, ended: datetime) -> None:
    superuser_sql(
        stack,
        "update public.subscriptions set plan_code = 'PRO', status = 'active', current_period_start = %s, "
        "current_period_end = %s where user_id = %s",
        (ended - timedelta(days=30), ended, user.id),
    )


def test_billing_run_prints_what_changed(stack: LocalStack, make_user: Callable[..., User]) -> None:
    user = make_user("cli-billing")
    end_period(stack, user, datetime.now(UTC) - timedelta(hours=1))
    result = data(run("billing", "run", "--json"))
    assert {
        "change": "subscription_period_ended",
        "subject_id": user.id,
        "before_state": "active",
        "after_state": "past_due",
    } in result["changes"]
    status = superuser_sql(stack, "select status from public.subscriptions where user_id = %s", (user.id,))
    assert status == [{"status": "past_due"}]
    again = data(run("billing", "run", "--json"))
    assert user.id not in [c["subject_id"] for c in again["changes"]]


def test_billing_run_as_of_an_instant(stack: LocalStack, make_user: Callable[..., User]) -> None:
    user = make_user("cli-billing-now")
    ended = datetime.now(UTC) - timedelta(days=2)
    end_period(stack, user, ended)
    before = (ended - timedelta(hours=1)).isoformat()
    early = data(run("billing", "run", "--now", before, "--json"))
    assert early["now"] is not None
    assert user.id not in [c["subject_id"] for c in early["changes"]]
    table = run("billing", "run", "--now", (ended + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    assert table.exit_code == 0, table.output
    assert user.id in flat(table.stdout)
    assert run("billing", "run", "--now", "tomorrow").exit_code == 2


# -- contact resend -----------------------------------------------------------------------------------------


def submission(db: PsycopgDatabase, *, failed: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = db.rpc(
        "record_contact_submission",
        {
            "name": "Ada",
            "email": "ada@example.test",
            "message": "Hello from the CLI tests",
            "client_ip": fresh_ip(),
        },
        caller=Caller.service(),
    )
    if failed:
        db.rpc(
            "mark_contact_submission",
            {"id": row["id"], "status": "failed", "error": "email_timeout"},
            caller=Caller.service(),
        )
    return row


def test_contact_resend_sends_and_marks_sent(stack: LocalStack, db: PsycopgDatabase) -> None:
    row = submission(db)
    with FakeResend() as resend:
        env = {
            "RESEND_API_KEY": resend.api_key,
            "RESEND_BASE_URL": resend.url,
            "EMAIL_FROM": "site@example.test",
        }
        results = data(run("contact", "resend", str(row["id"]), "--json", env=env))
        assert [(r["id"], r["result"]) for r in results] == [(row["id"], "sent")]
        (sent,) = resend.sent
        assert sent["headers"]["idempotency-key"] == f"contact-{row['id']}"
        assert sent["json"]["reply_to"] == "ada@example.test"
        stored = superuser_sql(
            stack,
            "select status, attempts, provider_message_id from private.contact_submissions where id = %s",
            (row["id"],),
        )
        assert stored == [{"status": "sent", "attempts": 2, "provider_message_id": sent["id"]}]
        # Sent now: no longer unsent.
        assert run("contact", "resend", str(row["id"]), env=env).exit_code == 3


def test_contact_resend_reports_failures(stack: LocalStack, db: PsycopgDatabase) -> None:
    row = submission(db)
    result = run("contact", "resend", str(row["id"]), "--json")
    assert "email is not configured" in error(result, 1)["message"]
    with FakeResend() as resend:
        resend.fail_next(500)
        env = {
            "RESEND_API_KEY": resend.api_key,
            "RESEND_BASE_URL": resend.url,
            "EMAIL_FROM": "site@example.test",
        }
        failed = run("contact", "resend", str(row["id"]), "--json", env=env)
        assert failed.exit_code == 1
        assert [r["result"] for r in json.loads(failed.stdout)["data"]] == ["failed"]
    stored = superuser_sql(
        stack, "select status, last_error from private.contact_submissions where id = %s", (row["id"],)
    )
    assert stored[0]["status"] == "failed"
    assert "email_rejected_500" in stored[0]["last_error"]
    assert run("contact", "resend", "not-an-id").exit_code == 2
    assert run("contact", "resend", str(uuid.uuid4())).exit_code == 3


def test_contact_resend_dry_run_lists_every_unsent_submission(stack: LocalStack, db: PsycopgDatabase) -> None:
    row = submission(db)
    listed = data(run("contact", "resend", "--dry-run", "--limit", "1000", "--json"))
    assert {"id": row["id"], "result": "would_send"}.items() <= next(
        r for r in listed if r["id"] == row["id"]
    ).items()


# -- doctor -------------------------------------------------------------------------------------------------


def checks(result: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(result.stdout)["data"]["checks"]}


@pytest.fixture
def an_admin(stack: LocalStack, make_user: Callable[..., User]) -> User:
    """doctor fails a project without any admin: these tests must not depend on others having made one."""
    user = make_user("cli-doctor-admin")
    superuser_sql(stack, "update public.user_roles set role = 'admin' where user_id = %s", (user.id,))
    return user


def test_doctor_on_the_local_stack(stack: LocalStack, an_admin: User) -> None:
    result = run("doctor", "--json")
    assert result.exit_code in (0, 4), result.output
    found = checks(result)
    for name in (
        "database",
        "migrations",
        "avatars bucket",
        "billing schedule",
        "jwt verification",
        "storage",
        "supabase",
    ):
        assert found[name]["status"] == "pass", found[name]
    assert found["billing schedule"]["detail"] == "pg_cron: */15 * * * *"
    assert found["payments"]["status"] == "warn"
    assert found["email"]["status"] == "warn"
    assert all(c["status"] != "fail" for c in found.values()), found
    assert result.exit_code == 0
    table = run("doctor")
    assert table.exit_code == 0
    assert "avatars bucket" in table.stdout


def test_doctor_fails_on_half_configured_features(stack: LocalStack) -> None:
    result = run(
        "doctor",
        "--json",
        env={
            "STRIPE_SECRET_KEY": "sk_test_x",
            "AI_PROVIDER": "openai",
            "RESEND_API_KEY": "re_x",
            "PAYMENT_PROVIDER": "doku",
        },
    )
    assert result.exit_code == 4
    assert json.loads(result.stdout)["ok"] is False  # the envelope agrees with the exit code
    assert json.loads(result.stdout)["error"]["code"] == "drift"
    found = checks(result)
    assert found["payments: stripe"]["status"] == "fail"
    assert "STRIPE_WEBHOOK_SECRET" in found["payments: stripe"]["detail"]
    assert found["ai"]["status"] == "fail"
    assert found["email"]["status"] == "fail"
    assert found["database"]["status"] == "pass"


def test_doctor_compares_admin_emails_with_the_admins(
    stack: LocalStack, make_user: Callable[..., User], an_admin: User
) -> None:
    user = make_user("cli-doctor")
    found = checks(run("doctor", "--json", env={"ADMIN_EMAILS": user.email}))
    assert found["admins"]["status"] == "warn"
    assert user.email in found["admins"]["detail"]


def test_doctor_fails_when_the_database_is_unreachable(stack: LocalStack) -> None:
    result = run("doctor", "--json", env={"DATABASE_URL": "postgresql://postgres:x@127.0.0.1:1/postgres"})
    assert result.exit_code == 4
    assert checks(result)["database"]["status"] == "fail"
    offline = run(
        "doctor", "--offline", "--json", env={"DATABASE_URL": "postgresql://postgres:x@127.0.0.1:1/postgres"}
    )
    assert "database" not in checks(offline)
    assert set(CONFIG_NAMES) >= {"DATABASE_URL"}


def test_doctor_offline_needs_no_database_at_all(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    import thinbase.cli.target as module

    monkeypatch.setattr(module, "_local_stack", lambda: None)  # no stack, no DATABASE_URL, no project
    result = run("doctor", "--offline", "--json", env={"STRIPE_SECRET_KEY": "sk_test_x"})
    assert result.exit_code == 4, result.output
    found = checks(result)
    assert "database" not in found
    assert found["payments: stripe"]["status"] == "fail"


def test_doctor_sees_an_edited_migration_as_db_status_does(stack: LocalStack) -> None:
    first = migrations.local_migrations()[0].version
    (original,) = superuser_sql(
        stack, "select statements from supabase_migrations.schema_migrations where version = %s", (first,)
    )
    superuser_sql(
        stack,
        "update supabase_migrations.schema_migrations set statements = array['select 1'] where version = %s",
        (first,),
    )
    try:
        result = run("doctor", "--json")
        found = checks(result)["migrations"]
        assert (result.exit_code, found["status"]) == (4, "fail"), found
        assert "1 drifted" in found["detail"]
    finally:
        superuser_sql(
            stack,
            "update supabase_migrations.schema_migrations set statements = %s where version = %s",
            (original["statements"], first),
        )
    assert checks(run("doctor", "--json"))["migrations"]["status"] == "pass"


@pytest.mark.parametrize(
    ("provider", "base_url"),
    [("openai-compatible", "http://127.0.0.1:11434/v1"), ("gemini", ""), ("anthropic", ""), ("openai", "")],
)
def test_doctor_accepts_every_ai_provider_the_app_serves(
    stack: LocalStack, provider: str, base_url: str
) -> None:
    """The README documents four AI_PROVIDER values; doctor used to fail two of them on a working setup."""
    env = {"AI_PROVIDER": provider, "AI_API_KEY": "sk-doctor", "AI_MODEL": "m"}
    if base_url:
        env["AI_BASE_URL"] = base_url
    found = checks(run("doctor", "--json", env=env))
    assert found["ai"]["status"] == "pass", found["ai"]


def test_doctor_names_what_an_ai_setting_lacks(stack: LocalStack) -> None:
    found = checks(run("doctor", "--json", env={"AI_PROVIDER": "openai-compatible", "AI_API_KEY": "k"}))
    assert found["ai"]["status"] == "fail"
    assert "AI_BASE_URL" in found["ai"]["detail"]
    unknown = checks(run("doctor", "--json", env={"AI_PROVIDER": "mistral", "AI_API_KEY": "k"}))
    assert "openai-compatible" in unknown["ai"]["detail"]


def test_doctor_catches_a_key_the_app_would_refuse(stack: LocalStack, an_admin: User) -> None:
    """A stale key from an earlier stack, or one signed with another secret, is refused by the app's
    apikey check: doctor must say so instead of passing."""
    forged = tokens.api_key("anon", "another-secret-another-secret-32b")
    found = checks(run("doctor", "--json", env={"SUPABASE_ANON_KEY": forged}))
    assert found["api keys"]["status"] == "fail", found["api keys"]
    assert "SUPABASE_ANON_KEY" in found["api keys"]["detail"]
    assert checks(run("doctor", "--json"))["api keys"]["status"] == "pass"


def audit_rows_since(stack: LocalStack, last_id: int) -> list[dict[str, Any]]:
    return superuser_sql(
        stack,
        "select action, actor_kind, actor_label from private.audit_logs where id > %s order by id",
        (last_id,),
    )


def last_audit_id(stack: LocalStack) -> int:
    return int(superuser_sql(stack, "select coalesce(max(id), 0) as id from private.audit_logs")[0]["id"])


def test_cli_reads_of_lists_write_no_audit_entry(
    stack: LocalStack, make_user: Callable[..., User], an_admin: User
) -> None:
    """Every CLI read used to write an entry (`audit tail` audited itself); lists and checks write none."""
    user = make_user("cli-audit-reads")
    mark = last_audit_id(stack)
    for command in (
        ("users", "list"),
        ("payments", "list"),
        ("webhooks", "list"),
        ("plans", "list"),
        ("admin", "list"),
        ("audit", "tail", "--since", "1h"),
        ("doctor",),
    ):
        run(*command, "--json")
    assert audit_rows_since(stack, mark) == []
    run("users", "show", user.email, "--json")
    assert [row["action"] for row in audit_rows_since(stack, mark)] == ["admin.get_user"]


def test_every_entry_the_cli_causes_names_the_operator(
    stack: LocalStack, make_user: Callable[..., User], an_admin: User
) -> None:
    """They said only actor_kind = 'service'; now THINBASE_OPERATOR (default: the OS user) is recorded."""
    import getpass

    user = make_user("cli-operator")
    mark = last_audit_id(stack)
    assert run("admin", "grant", user.email, env={"THINBASE_OPERATOR": "ops-ada"}).exit_code == 0
    run("users", "show", user.email, "--json")
    rows = audit_rows_since(stack, mark)
    assert {(r["action"], r["actor_label"]) for r in rows if r["action"].startswith("admin.")} == {
        ("admin.set_role", "ops-ada"),
        ("admin.get_user", getpass.getuser()),
    }
    assert all(r["actor_kind"] == "service" for r in rows)
    assert all(r["actor_label"] for r in rows)  # the row changes the grant caused name ops-ada too
    tail = run("audit", "tail", "--since", "1m")
    assert "(ops-ada)" in tail.stdout
