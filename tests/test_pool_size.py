"""How many connections the psycopg adapter may open: DATABASE_POOL_SIZE, else the default."""

from __future__ import annotations

import pytest

from thinbase.db import open_database
from thinbase.db.factory import DEFAULT_POOL_SIZE
from thinbase.db.psycopg_adapter import AsyncPsycopgDatabase
from thinbase.errors import ConfigurationError
from thinbase.settings import Settings

URL = "postgresql://nobody@127.0.0.1:1/none"  # never connected to: the pool opens on first use


@pytest.mark.parametrize(("raw", "size"), [("", DEFAULT_POOL_SIZE), ("  ", DEFAULT_POOL_SIZE), ("4", 4)])
def test_the_pool_size_comes_from_the_setting(raw: str, size: int) -> None:
    database = open_database(Settings(env={"DATABASE_URL": URL, "DATABASE_POOL_SIZE": raw}))
    assert isinstance(database, AsyncPsycopgDatabase)
    assert database.max_size == size


@pytest.mark.parametrize("raw", ["0", "-3", "ten", "2.5", "100000"])
def test_a_pool_size_that_makes_no_sense_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_POOL_SIZE"):
        open_database(Settings(env={"DATABASE_URL": URL, "DATABASE_POOL_SIZE": raw}))
