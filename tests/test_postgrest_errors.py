"""PostgREST's SQLSTATE → HTTP table (reference/supabase-platform.md §4.2), one row per rule."""

from __future__ import annotations

import pytest

from thinbase.db.postgrest_errors import status_for


@pytest.mark.parametrize(
    ("code", "authenticated", "status"),
    [
        ("P0001", False, 400),
        ("P0002", False, 500),
        ("PT402", True, 402),
        ("PT429", False, 429),
        ("PTabc", False, 500),
        ("42501", False, 401),
        ("42501", True, 403),
        ("23505", True, 409),
        ("23503", True, 409),
        ("25006", True, 405),
        ("42883", False, 404),
        ("42P01", False, 404),
        ("08006", False, 503),
        ("28000", False, 403),
        ("53300", False, 503),
        ("53400", False, 500),
        ("40001", False, 500),
        ("57014", False, 500),
        ("XX000", False, 500),
        ("23502", False, 400),
        ("22P02", False, 400),
        ("PGRST202", False, 404),
        ("PGRST203", False, 300),
        ("PGRST106", False, 406),
        ("PGRST301", False, 401),
    ],
)
def test_status_for(code: str, authenticated: bool, status: int) -> None:
    assert status_for(code, authenticated=authenticated) == status


def test_unknown_role_is_401() -> None:
    assert status_for("22023", authenticated=True, message='role "x" does not exist') == 401
    assert status_for("22023", authenticated=True, message="invalid parameter") == 400
