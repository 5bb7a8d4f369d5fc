"""Connections to Cloud SQL through Google's Cloud SQL Python connector: TLS with an ephemeral
certificate, and IAM database authentication (the service account is the database user, no password).

Used when ``EVENTPULSE_CLOUDSQL_INSTANCE`` is set (``project:region:instance``); ``DATABASE_URL`` then
names only the user and the database (``postgresql://SA@/eventpulse``, where SA is the service
account's email without ``.gserviceaccount.com``). The connector is imported only then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IP_TYPES = ("private", "public", "psc")


@dataclass(frozen=True)
class CloudSqlTarget:
    instance: str
    """``project:region:instance``, the instance connection name (checked by the settings)."""
    ip_type: str = "private"
    iam_auth: bool = True


def build_creator(
    target: CloudSqlTarget,
    *,
    user: str,
    database: str,
    password: str | None,
    connect_args: dict[str, Any],
    connector_factory: Callable[..., Any] | None = None,
) -> Callable[[], Any]:
    """A DB-API connection factory for SQLAlchemy's ``creator`` (it holds the connector)."""
    if connector_factory is None:
        from google.cloud.sql.connector import Connector, IPTypes

        ip_type = {"private": IPTypes.PRIVATE, "public": IPTypes.PUBLIC, "psc": IPTypes.PSC}[target.ip_type]
        connector = Connector(ip_type=ip_type, enable_iam_auth=target.iam_auth, refresh_strategy="lazy")
    else:
        connector = connector_factory(ip_type=target.ip_type, enable_iam_auth=target.iam_auth)
    extra = dict(connect_args)
    if password and not target.iam_auth:
        extra["password"] = password

    def create() -> Any:
        return connector.connect(target.instance, "pg8000", user=user, db=database, **extra)

    return create
