"""Settings: names from DESIGN.md, real environment over `.env`, and when the local gateway is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from thinbase.errors import ConfigurationError
from thinbase.settings import load_settings


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("THINBASE_PORT=1111\nADMIN_EMAILS=A@x.test, b@x.test\n")
    monkeypatch.setenv("THINBASE_PORT", "2222")
    settings = load_settings(dotenv_path=dotenv)
    assert settings.port == 2222
    assert settings.admin_emails == ("a@x.test", "b@x.test")


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_bad_port_is_a_configuration_error(port: str) -> None:
    with pytest.raises(ConfigurationError, match="THINBASE_PORT"):
        _ = load_settings(env={"THINBASE_PORT": port}).port


@pytest.mark.parametrize(
    ("env", "served"),
    [
        ({"DATABASE_URL": "postgresql://x", "SUPABASE_URL": "http://127.0.0.1:54321"}, True),
        ({"DATABASE_URL": "postgresql://x", "SUPABASE_URL": "http://localhost:8000/"}, True),
        ({"DATABASE_URL": "postgresql://x", "SUPABASE_URL": "https://abc.supabase.co"}, False),
        ({"SUPABASE_URL": "http://127.0.0.1:54321"}, False),
        ({}, False),
    ],
)
def test_local_gateway_only_on_the_local_stack(env: dict[str, str], served: bool) -> None:
    assert load_settings(env=env).serves_local_gateway is served
