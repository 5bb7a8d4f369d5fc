"""Ops API: the runtime configuration without its secrets, and the database's size per table.

A setting is secret when its field is hidden from ``repr`` or its name says so (token, digest,
pepper, key, password, credentials); a secret shows only whether it is set. A URL setting keeps its
scheme, host and path but loses any password in it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Response, jsonify

from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.resources import DatabaseSizes, RuntimeConfig
from eventpulse.api.roles import VIEWER
from eventpulse.settings import Settings

bp = Operations("ops", __name__, url_prefix="/api/ops")

REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"token|sha256|pepper|secret|password|api_key|credentials")


@bp.operation("GET", "/config", access=VIEWER, returns={200: RuntimeConfig})
def runtime_config() -> Response:
    """The settings this process runs with; secrets show only as set (`[redacted]`) or unset (null)."""
    settings = current_services().settings
    return jsonify({"settings": describe_settings(settings), "redacted": sorted(secret_fields())})


@bp.operation("GET", "/database", access=VIEWER, returns={200: DatabaseSizes})
def database_sizes() -> Response:
    """Size of every table of the database (indexes and TOAST included), largest first."""
    with current_services().store.read() as tx:
        rows = tx.stats.table_sizes()
    total = sum(int(r["total_bytes"]) for r in rows)
    return jsonify({"items": rows, "total": len(rows), "total_bytes": total})


def secret_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(Settings) if is_secret(f)}


def is_secret(f: dataclasses.Field[Any]) -> bool:
    return not f.repr or SECRET_NAME.search(f.name) is not None


def describe_settings(settings: Settings) -> dict[str, Any]:
    """Every settings field as JSON, secrets redacted and passwords cut out of URLs."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if is_secret(f):
            out[f.name] = REDACTED if value else None
        else:
            out[f.name] = _to_json(value)
    return out


def strip_password(url: str) -> str:
    """``url`` with the password of its userinfo replaced (``user:[redacted]@host``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}"))


def _to_json(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return strip_password(value)
    return value
