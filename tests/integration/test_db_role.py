"""``db_role``: every session switches to one owner role at login, on real Postgres.

With Cloud SQL each service logs in as its own IAM database user; what one creates (the migration's
tables, a dataset's curated table) must be usable and alterable by the others. The users here stand
in for two services' IAM users (their names have the ``...@<project>.iam`` shape) and log in over
trust auth; the owner role is what the Terraform names (EVENTPULSE_DB_ROLE).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from eventpulse.adapters.postgres.cloudsql import CloudSqlTarget
from eventpulse.adapters.postgres.engine import build_engine
from eventpulse.adapters.postgres.store import PostgresStore
from eventpulse.settings import Settings, SettingsError
from tests.integration.test_cloudsql_connector import StandInConnector, factory


@pytest.fixture
def roles(database_url: str) -> Iterator[dict[str, str]]:
    """An owner role (no login, may create in the schema), two member users and one outsider."""
    tag = uuid.uuid4().hex[:6]
    names = {
        "owner": f"owner_{tag}",
        "api": f"ep-api-{tag}@p-1.iam",
        "job": f"ep-job-{tag}@p-1.iam",
        "outsider": f"ep-other-{tag}@p-1.iam",
    }
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{names["owner"]}" NOLOGIN'))
        conn.execute(text(f'GRANT CREATE, USAGE ON SCHEMA public TO "{names["owner"]}"'))
        for user in ("api", "job", "outsider"):
            conn.execute(text(f'CREATE ROLE "{names[user]}" LOGIN'))
        for user in ("api", "job"):
            conn.execute(text(f'GRANT "{names["owner"]}" TO "{names[user]}"'))
    yield names
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'DROP OWNED BY "{name}" CASCADE'))
        for name in names.values():
            conn.execute(text(f'DROP ROLE "{name}"'))
    admin.dispose()


def url_as(database_url: str, user: str) -> str:
    return make_url(database_url).set(username=user, password=None).render_as_string(hide_password=False)


def test_what_one_user_creates_as_the_owner_role_another_can_alter(
    database_url: str, roles: dict[str, str]
) -> None:
    api = build_engine(url_as(database_url, roles["api"]), role=roles["owner"])
    job = build_engine(url_as(database_url, roles["job"]), role=roles["owner"])
    plain = build_engine(url_as(database_url, roles["job"]))
    try:
        with api.begin() as conn:
            assert conn.execute(text("SELECT current_user, session_user")).one() == (
                roles["owner"],
                roles["api"],
            )
            conn.execute(text("CREATE TABLE shared_curated (id int)"))
        with job.begin() as conn:  # ALTER needs ownership: the drift path of a curated table
            conn.execute(text("ALTER TABLE shared_curated ADD COLUMN note text"))
            conn.execute(text("INSERT INTO shared_curated VALUES (1, 'x')"))
        with plain.begin() as conn:  # without the role a table belongs to its creator alone
            conn.execute(text("CREATE TABLE private_curated (id int)"))
        with pytest.raises(DBAPIError, match="must be owner"), api.begin() as conn:
            conn.execute(text("ALTER TABLE private_curated ADD COLUMN note text"))
    finally:
        for engine in (api, job, plain):
            engine.dispose()


@pytest.fixture
def unmigrated_url(database_url: str, roles: dict[str, str]) -> Iterator[str]:
    """A database of its own that no migration has touched (the session's is migrated by other
    tests, as the superuser), where the owner role may create in the public schema."""
    name = f"eventpulse_role_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    fresh = create_engine(url, isolation_level="AUTOCOMMIT")
    with fresh.connect() as conn:
        conn.execute(text(f'GRANT CREATE, USAGE ON SCHEMA public TO "{roles["owner"]}"'))
    fresh.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_migration_as_one_user_leaves_a_schema_every_member_can_use(
    unmigrated_url: str, roles: dict[str, str]
) -> None:
    migrator = build_engine(url_as(unmigrated_url, roles["job"]), role=roles["owner"])
    service = build_engine(url_as(unmigrated_url, roles["api"]), role=roles["owner"])
    try:
        PostgresStore(migrator).migrate()
        PostgresStore(service).migrate()  # a second run as another member: nothing to do, no error
        with service.connect() as conn:
            owners = conn.execute(
                text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            assert set(owners) == {roles["owner"]}
    finally:
        migrator.dispose()
        service.dispose()


def test_a_user_outside_the_owner_role_is_refused_at_login(database_url: str, roles: dict[str, str]) -> None:
    engine = build_engine(url_as(database_url, roles["outsider"]), role=roles["owner"])
    try:
        with pytest.raises(DBAPIError, match="permission denied to set role"), engine.connect():
            pass
    finally:
        engine.dispose()


def test_the_role_travels_through_the_connector(database_url: str) -> None:
    database = make_url(database_url).database
    engine = build_engine(
        f"postgresql://ep-api%40p-1.iam@/{database}",  # the Terraform's URL: the user's @ encoded
        role="postgres",
        cloudsql=CloudSqlTarget("p-1:europe-west1:ep-postgres"),
        connector_factory=factory(database_url),
    )
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == "postgres"
        _, _, kwargs = StandInConnector.made[-1].calls[0]
        assert kwargs["user"] == "ep-api@p-1.iam"
        assert kwargs["startup_params"]["role"] == "postgres"
    finally:
        engine.dispose()


@pytest.mark.parametrize("bad", ["", "1role", "a b", "x;DROP"])
def test_a_role_must_be_a_role_name(bad: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if bad == "":
        assert Settings.from_mapping({"EVENTPULSE_DB_ROLE": bad}).db_role is None  # empty: unset
        return
    with pytest.raises(SettingsError, match="DB_ROLE"):
        Settings.from_mapping({"EVENTPULSE_DATA_DIR": str(tmp_path), "EVENTPULSE_DB_ROLE": bad})
