"""The one typed settings object, built once from a mapping (normally ``os.environ``).

No other module reads the environment. Every field is documented below; ``docs/SETTINGS.md`` lists the
environment variable for each and a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["local", "cloud"]
QueueKind = Literal["inline"]

PREFIX = "EVENTPULSE_"


class SettingsError(ValueError):
    """A setting has a value EventPulse cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    mode: Mode = "local"
    """``local`` enables demo endpoints and the embedded database; ``cloud`` disables both."""

    data_dir: Path = Path("data")
    """Root folder for local state: raw landing, incoming, archive, embedded Postgres, secrets."""

    database_url: str | None = None
    """SQLAlchemy URL (``postgresql+pg8000://...``); unset means start the embedded Postgres server."""

    contracts_dir: Path = Path("contracts")
    """Folder holding one Great Expectations suite per dataset, ``<dataset>.json``."""

    upload_max_bytes: int = 2 * 1024**3
    """Largest accepted upload in bytes; larger bodies get HTTP 413."""

    allowed_extensions: tuple[str, ...] = (".csv", ".tsv", ".xlsx", ".json", ".ndjson", ".jsonl", ".parquet")
    """File extensions accepted for ingestion (lowercase, with the dot)."""

    queue: QueueKind = "inline"
    """Task queue adapter: ``inline`` processes in-process right after registration."""

    api_token_sha256: tuple[str, ...] = ()
    """Hex sha256 digests of the bearer tokens accepted on ``/api`` endpoints (tokens are never stored)."""

    task_token_sha256: tuple[str, ...] = ()
    """Hex sha256 digests of the ``X-Task-Token`` values accepted on internal endpoints."""

    auth_disabled: bool = False
    """Open every endpoint without a token. Only for local development; refused in ``cloud`` mode."""

    max_attempts: int = 3
    """Processing attempts before an ingestion ends ``FAILED_MAX_ATTEMPTS``."""

    heartbeat_seconds: float = 5.0
    """How often a worker refreshes the heartbeat of the ingestion it is processing."""

    stale_after_seconds: float = 120.0
    """A ``PROCESSING`` ingestion whose heartbeat is older than this may be reclaimed."""

    http_host: str = "127.0.0.1"
    """Interface the local HTTP server binds."""

    http_port: int = 8081
    """Port of the local HTTP server."""

    watch_interval_seconds: float = 2.0
    """Polling interval of the incoming-folder watcher."""

    batch_rows: int = 100_000
    """Rows per record batch while parsing, validating and loading (bounds memory)."""

    db_pool_size: int = 5
    """Connections kept in the SQLAlchemy pool."""

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def incoming_dir(self) -> Path:
        return self.data_dir / "incoming"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from ``EVENTPULSE_*`` keys (``DATABASE_URL`` is also read, unprefixed)."""
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            key = PREFIX + f.name.upper()
            raw = env.get(key)
            if raw is None and f.name == "database_url":
                raw = env.get("DATABASE_URL")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(key, raw, f)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.ensure_consistent()
        return settings

    def ensure_consistent(self) -> None:
        """Raise SettingsError for combinations that are unsafe or meaningless."""
        if self.mode not in ("local", "cloud"):
            raise SettingsError(f"{PREFIX}MODE must be 'local' or 'cloud', not {self.mode!r}")
        if self.mode == "cloud" and self.auth_disabled:
            raise SettingsError(
                f"{PREFIX}AUTH_DISABLED is for local development only; unset it in cloud mode"
            )
        if self.max_attempts < 1:
            raise SettingsError(f"{PREFIX}MAX_ATTEMPTS must be at least 1")
        if self.batch_rows < 1:
            raise SettingsError(f"{PREFIX}BATCH_ROWS must be at least 1")

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests and the CLI use this)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _parse(key: str, raw: str, f: dataclasses.Field[object]) -> object:
    kind = str(f.type)
    try:
        if kind.startswith("tuple"):
            return tuple(part.strip().lower() for part in raw.split(",") if part.strip())
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError("expected true or false")
            return raw.lower() in ("1", "true", "yes")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        return raw
    except ValueError as exc:
        raise SettingsError(f"{key}={raw!r} is not valid: {exc}") from None
