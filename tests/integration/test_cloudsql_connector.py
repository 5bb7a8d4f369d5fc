"""The Cloud SQL connector wiring (adapters/postgres/cloudsql.py) on real Postgres.

There is no Cloud SQL here, so a stand-in takes the connector's place at its one seam: it records how
EventPulse calls ``Connector(...)`` and ``connector.connect(instance, "pg8000", ...)`` and opens a real
pg8000 connection to the test database. What is proven: the engine takes every connection from the
connector, with the URL's user and database, IAM auth on by default (no password sent), and the
session settings (idle-in-transaction timeout) in the startup packet; the pool and the store work on it.
"""

from __future__ import annotations

from typing import Any

import pg8000.dbapi
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from eventpulse.adapters.postgres.cloudsql import CloudSqlTarget
from eventpulse.adapters.postgres.engine import build_engine
from eventpulse.settings import Settings, SettingsError


class StandInConnector:
    made: list[StandInConnector] = []

    def __init__(self, *, database_url: str, **options: Any):
        self.options = options
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._real = make_url(database_url)
        StandInConnector.made.append(self)

    def connect(self, instance: str, driver: str, **kwargs: Any) -> Any:
        self.calls.append((instance, driver, dict(kwargs)))
        return pg8000.dbapi.connect(
            user=self._real.username or "postgres",
            host=self._real.host or "127.0.0.1",
            port=self._real.port or 5432,
            database=kwargs["db"],
            startup_params=kwargs.get("startup_params"),
        )


def factory(database_url: str):  # type: ignore[no-untyped-def]
    return lambda **options: StandInConnector(database_url=database_url, **options)


def test_every_connection_comes_from_the_connector_with_iam_auth(database_url: str) -> None:
    database = make_url(database_url).database
    engine = build_engine(
        f"postgresql://eventpulse-api@/{database}",  # the IAM user and the database; no host, no password
        idle_in_transaction_timeout_seconds=7,
        cloudsql=CloudSqlTarget("my-project:europe-west1:eventpulse"),
        connector_factory=factory(database_url),
    )
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == database
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "7s"
        connector = StandInConnector.made[-1]
        assert connector.options == {"ip_type": "private", "enable_iam_auth": True}
        instance, driver, kwargs = connector.calls[0]
        assert (instance, driver) == ("my-project:europe-west1:eventpulse", "pg8000")
        assert kwargs["user"] == "eventpulse-api" and kwargs["db"] == database
        assert "password" not in kwargs  # IAM auth: the connector's token, never a password
    finally:
        engine.dispose()


def test_without_iam_auth_the_urls_password_is_sent(database_url: str) -> None:
    database = make_url(database_url).database
    engine = build_engine(
        f"postgresql://app:s3cret@ignored-host/{database}",
        cloudsql=CloudSqlTarget("p:r:i", ip_type="public", iam_auth=False),
        connector_factory=factory(database_url),
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        connector = StandInConnector.made[-1]
        assert connector.options == {"ip_type": "public", "enable_iam_auth": False}
        assert connector.calls[0][2]["password"] == "s3cret"
    finally:
        engine.dispose()


@pytest.mark.parametrize("bad", ["instance", "p:i", "p::i", "a:b:c:d"])
def test_an_instance_name_must_be_project_region_instance(bad: str, tmp_path) -> None:
    with pytest.raises(SettingsError, match="CLOUDSQL_INSTANCE.*project:region:instance"):
        Settings.from_mapping({"EVENTPULSE_DATA_DIR": str(tmp_path), "EVENTPULSE_CLOUDSQL_INSTANCE": bad})


def test_the_settings_read_the_cloudsql_variables(tmp_path) -> None:
    settings = Settings.from_mapping(
        {
            "EVENTPULSE_DATA_DIR": str(tmp_path),
            "EVENTPULSE_CLOUDSQL_INSTANCE": "p:r:i",
            "EVENTPULSE_CLOUDSQL_IP_TYPE": "psc",
            "EVENTPULSE_CLOUDSQL_IAM_AUTH": "false",
        }
    )
    assert (settings.cloudsql_instance, settings.cloudsql_ip_type, settings.cloudsql_iam_auth) == (
        "p:r:i",
        "psc",
        False,
    )
    with pytest.raises(SettingsError, match="CLOUDSQL_IP_TYPE"):
        Settings.from_mapping({"EVENTPULSE_DATA_DIR": str(tmp_path), "EVENTPULSE_CLOUDSQL_IP_TYPE": "pigeon"})
