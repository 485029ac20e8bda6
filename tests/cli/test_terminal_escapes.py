"""What users typed reaches an operator's terminal only as visible escapes, never as control sequences.

The database refuses control and bidi characters in new names (sql_tests/027_display_text.sql), but rows
written before that rule, or around it, may still hold them, so the CLI escapes everything it prints: tables,
key/value views, titles, plain lines, payloads. The names here would retitle the terminal (ESC ] 0 ; … BEL),
forge a line (CR LF), reverse the rest of the line (U+202E) and, through Rich markup, print a hyperlink.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.cli.conftest import Checkout, apply_event, data, run, superuser_sql
from tests.conftest import User
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.local.stack import LocalStack

HOSTILE = "\x1b]0;pwned\x07Eve\r\nrole: admin \u202egpj.exe [link=https://evil.example]x[/link] \x9b31m"
# How it must look: each control and bidi character written out, the markup as typed.
SHOWN = "\\x1b]0;pwned\\x07Eve\\r\\nrole: admin \\u202egpj.exe [link=https://evil.example]x[/link] \\x9b31m"
RAW = ("\x1b", "\x07", "\r", "\u202e", "\x9b")
WIDE = {"COLUMNS": "400"}  # one table row per line, so the escaped name is not wrapped


def stored_name(stack: LocalStack, user: User, name: str) -> None:
    """Give `user` the profile name `name` the way a row from before 20261204000210 has it: written with the
    table's ordinary triggers off (the display-text trigger would refuse it now)."""
    with stack.superuser_connection() as conn, conn.transaction():
        conn.execute("set local session_replication_role = replica")
        conn.execute("update public.profiles set full_name = %s where id = %s", (name, user.id))


def assert_no_raw_controls(text: str) -> None:
    found = sorted({f"U+{ord(ch):04X}" for ch in RAW if ch in text})
    assert found == [], f"raw control/bidi characters reached the output: {found}"
    assert "\x1b]8;" not in text, "markup in data became a terminal hyperlink"


def test_users_list_shows_names_escaped(stack: LocalStack, make_user: Callable[..., User]) -> None:
    user = make_user("cli-esc")
    stored_name(stack, user, HOSTILE)
    result = run("users", "list", "--search", user.email, env=WIDE)
    assert result.exit_code == 0, result.output
    assert_no_raw_controls(result.stdout)
    assert SHOWN in result.stdout
    assert user.email in result.stdout


def test_users_show_escapes_names_in_values_and_titles(
    stack: LocalStack, make_user: Callable[..., User]
) -> None:
    user = make_user("cli-esc")
    stored_name(stack, user, HOSTILE)
    result = run("users", "show", user.email, env=WIDE)
    assert result.exit_code == 0, result.output
    assert_no_raw_controls(result.stdout)
    assert SHOWN in result.stdout


def test_json_carries_the_exact_name_as_escapes(stack: LocalStack, make_user: Callable[..., User]) -> None:
    """--json is for machines: the name is exactly what is stored, and still no raw character is printed
    (json.dumps writes them as \\uXXXX)."""
    user = make_user("cli-esc")
    stored_name(stack, user, HOSTILE)
    shown = run("users", "show", user.email, "--json")
    listed = run("users", "list", "--search", user.email, "--json")
    for result in (shown, listed):
        assert_no_raw_controls(result.stdout)
        assert "\n" not in json.dumps(json.loads(result.stdout)["data"], ensure_ascii=True)
    assert data(shown)["full_name"] == HOSTILE
    assert [row["full_name"] for row in data(listed)] == [HOSTILE]


def test_audit_tail_shows_changes_escaped(stack: LocalStack, make_user: Callable[..., User]) -> None:
    user = make_user("cli-esc")
    superuser_sql(
        stack,
        "insert into private.audit_logs (actor_kind, actor_user_id, action, entity, entity_id, before, after)"
        " values ('user', %s, 'profiles.update', 'profiles', %s, '{\"full_name\": null}', %s)",
        (user.id, user.id, json.dumps({"full_name": "\x1b]0;pwned\x07\u202eEve"})),
    )
    table = run("audit", "tail", "--entity", f"profiles:{user.id}", env=WIDE)
    assert table.exit_code == 0, table.output
    assert_no_raw_controls(table.stdout)
    assert "\\x1b]0;pwned\\x07\\u202eEve" in table.stdout
    lines = run("audit", "tail", "--entity", f"profiles:{user.id}", "--json")
    assert_no_raw_controls(lines.stdout)


def test_audit_follow_prints_plain_lines_escaped(capsys: Any) -> None:
    from thinbase.cli import audit

    entry = {
        "id": 1,
        "created_at": "2026-12-04T10:00:00+00:00",
        "actor_kind": "user",
        "actor_user_id": None,
        "action": "profiles.update",
        "entity": "profiles",
        "entity_id": None,
        "before": {"full_name": None},
        "after": {"full_name": "\x1b[2J\r\u202eEve"},
    }
    audit._print([entry], as_json=False)
    printed = capsys.readouterr().out
    assert_no_raw_controls(printed)
    assert "\\x1b[2J\\r\\u202eEve" in printed


def test_webhooks_show_prints_payloads_escaped(
    db: PsycopgDatabase, checkout: Callable[..., Checkout]
) -> None:
    bought = checkout("stripe", "USD")
    event = apply_event(db, bought, status="paid", amount_minor=1, payload={"customer_name": HOSTILE})
    result = run("webhooks", "show", event["event_id"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert_no_raw_controls(result.stdout)
    assert data(run("webhooks", "show", event["event_id"], "--json"))["payload"] == {"customer_name": HOSTILE}


def test_errors_show_what_the_database_echoed_escaped() -> None:
    """An error message can carry what was typed (here: an unknown email with an escape sequence)."""
    result = run("users", "show", "\x1b]0;pwned\x07@example.test")
    assert result.exit_code == 3, result.output
    assert_no_raw_controls(result.stderr)
