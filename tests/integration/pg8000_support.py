"""A private Postgres database per test module, reached with raw pg8000 (the curated load's driver).

``database = private_database(NAME)`` and ``conn = connection()`` at a module's top give it the
fixtures ``database`` (created for the module, dropped after it) and ``conn`` (rolled back after each
test). The database has no metadata tables, only the functions curated tables' lineage columns
default to and the row-hash trigger function (migrations 0011 and 0012 create them in a real deployment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pg8000
import pytest

from eventpulse.curate.ddl import LINEAGE_FUNCTIONS_SQL, ROW_HASH_TRIGGER_FUNCTION_SQL

PG = {"user": "postgres", "host": "127.0.0.1", "port": 5432}


def connect(database: str, *, autocommit: bool = False) -> pg8000.Connection:
    conn = pg8000.connect(database=database, **PG)
    conn.autocommit = autocommit
    return conn


def private_database(name: str) -> Callable[..., Any]:
    @pytest.fixture(scope="module")
    def database() -> Iterator[str]:
        admin = connect("postgres", autocommit=True)
        try:
            admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.run(f"CREATE DATABASE {name}")
            fresh = connect(name, autocommit=True)
            for sql in (*LINEAGE_FUNCTIONS_SQL, ROW_HASH_TRIGGER_FUNCTION_SQL):
                fresh.run(sql)
            fresh.close()
            yield name
            admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            admin.close()

    return database


def connection() -> Callable[..., Any]:
    @pytest.fixture
    def conn(database: str) -> Iterator[pg8000.Connection]:
        connection = connect(database)
        yield connection
        connection.rollback()
        connection.close()

    return conn
