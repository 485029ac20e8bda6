"""Local migration files against a database's applied history (`supabase_migrations.schema_migrations`,
which the Supabase CLI writes on every `db push`).

Each version ends up in one state:
    applied   the file is applied, unchanged
    pending   the file is not applied yet (`thinbase db push` applies it)
    missing   applied on the database, but no local file has that version (drift: another checkout
              pushed it, or a file was deleted)
    renamed   applied under another name (drift)
    modified  the file changed after it was applied (drift: landed migrations are never edited; fix
              forward with a new one)
The CLI stores each statement without its trailing semicolon; content is compared ignoring white space and
semicolons, which is enough to see an edit and never flags the CLI's own splitting.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg

from thinbase.local.paths import MIGRATIONS_DIR

State = Literal["applied", "pending", "missing", "renamed", "modified"]
DRIFT: frozenset[str] = frozenset({"missing", "renamed", "modified"})
FILE_NAME = re.compile(r"^(\d{14})_(.+)\.sql$")


@dataclass(frozen=True)
class LocalMigration:
    version: str
    name: str
    path: Path

    def fingerprint(self) -> str:
        return fingerprint(self.path.read_text())


@dataclass(frozen=True)
class AppliedMigration:
    version: str
    name: str | None
    statements: tuple[str, ...] | None  # None where the history has no statements column

    def fingerprint(self) -> str | None:
        return None if self.statements is None else fingerprint("".join(self.statements))


@dataclass(frozen=True)
class MigrationStatus:
    version: str
    name: str
    state: State
    detail: str | None = None


def fingerprint(sql: str) -> str:
    return re.sub(r"[\s;]+", "", sql)


def local_migrations(directory: Path = MIGRATIONS_DIR) -> list[LocalMigration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if match:
            found.append(LocalMigration(match.group(1), match.group(2), path))
    return found


def applied_migrations(url: str, *, connect_timeout: int = 10) -> list[AppliedMigration]:
    """The history on the database at `url`; empty when nothing was ever pushed. Raises psycopg.Error."""
    with psycopg.connect(url, connect_timeout=connect_timeout, autocommit=True) as conn:
        exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone()
        if not exists or exists[0] is None:
            return []
        columns = {
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'supabase_migrations' and table_name = 'schema_migrations'"
            )
        }
        name = "name" if "name" in columns else "null::text"
        statements = "statements" if "statements" in columns else "null::text[]"
        rows = conn.execute(
            f"select version, {name}, {statements} "
            "from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    return [
        AppliedMigration(str(version), label, None if stmts is None else tuple(stmts))
        for version, label, stmts in rows
    ]


def compare(local: list[LocalMigration], applied: list[AppliedMigration]) -> list[MigrationStatus]:
    """Every version from both sides, in version order, with its state."""
    files = {m.version: m for m in local}
    history = {m.version: m for m in applied}
    latest_applied = max(history, default="")
    result = []
    for version in sorted(files.keys() | history.keys()):
        file, row = files.get(version), history.get(version)
        if file is None:
            assert row is not None
            result.append(
                MigrationStatus(version, row.name or "", "missing", "applied on the database, no local file")
            )
        elif row is None:
            detail = (
                "older than the latest applied migration: `thinbase db push --include-all`"
                if version < latest_applied
                else None
            )
            result.append(MigrationStatus(version, file.name, "pending", detail))
        elif row.name is not None and row.name != file.name:
            result.append(MigrationStatus(version, file.name, "renamed", f"applied as {row.name!r}"))
        elif (stored := row.fingerprint()) is not None and stored != file.fingerprint():
            result.append(
                MigrationStatus(version, file.name, "modified", "the file changed after it was applied")
            )
        else:
            result.append(MigrationStatus(version, file.name, "applied"))
    return result


def summary(statuses: list[MigrationStatus], target: str, *, checked: str = "full") -> dict[str, Any]:
    """The `db status` report: counts, what is pending, what drifted, and every row."""
    return {
        "target": target,
        "checked": checked,
        "local": sum(1 for s in statuses if s.state != "missing"),
        "applied": sum(1 for s in statuses if s.state != "pending"),
        "pending": [s.version for s in statuses if s.state == "pending"],
        "drift": [asdict(s) for s in statuses if s.state in DRIFT],
        "up_to_date": all(s.state == "applied" for s in statuses),
        "migrations": [asdict(s) for s in statuses],
    }


def compare_latest(local: list[LocalMigration], remote_version: str | None) -> list[MigrationStatus]:
    """What can be said from the latest applied version alone (a project reached through its API)."""
    result = []
    for migration in local:
        if remote_version is not None and migration.version <= remote_version:
            result.append(MigrationStatus(migration.version, migration.name, "applied", "by version only"))
        else:
            result.append(MigrationStatus(migration.version, migration.name, "pending"))
    if remote_version is not None and remote_version not in {m.version for m in local}:
        result.append(
            MigrationStatus(remote_version, "", "missing", "applied on the database, no local file")
        )
    return result
