"""The one typed settings object, built once from a mapping (normally ``os.environ``).

No other module reads the environment. Every field is documented below; ``docs/SETTINGS.md`` lists the
environment variable for each and a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from eventpulse.logs.setup import LOG_FORMATS, LOG_LEVELS, LogFormat

Mode = Literal["local", "cloud"]
QueueKind = Literal["inline", "rq", "cloud_tasks"]
LandingKind = Literal["filesystem", "gcs"]
GateEngine = Literal["compiled", "gx"]
DeviceRegistryKind = Literal["postgres", "firestore"]
TokenRole = Literal["viewer", "operator", "admin"]
"""What a bearer token may do; the policy per route is ``eventpulse.api.roles``."""

PREFIX = "EVENTPULSE_"
TOKEN_ROLES: tuple[str, ...] = get_args(TokenRole)
LEGACY_TOKEN_ROLE: TokenRole = "operator"
"""Role of each digest in ``EVENTPULSE_API_TOKEN_SHA256``: everything a bearer token could do before roles."""
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def is_instance_name(value: str) -> bool:
    """True for a Cloud SQL instance connection name, ``project:region:instance``."""
    parts = value.split(":")
    return len(parts) == 3 and all(parts)


class SettingsError(ValueError):
    """A setting has a value EventPulse cannot use; the message names the variable."""


@dataclass(frozen=True)
class ApiToken:
    """A named bearer token: who it is (recorded as ``token:<name>``), what it may do, its sha256."""

    name: str
    role: TokenRole
    sha256: str = field(repr=False)


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
    """Largest accepted upload in bytes; larger bodies get HTTP 413 (serve sets waitress's limit from it)."""

    serve_connection_limit: int = 1000
    """Connections ``eventpulse serve`` holds open at once (waitress's default of 100 let 100 slow
    clients lock every other caller out); past it, new connections wait in the listen backlog."""

    serve_channel_timeout_seconds: float = 60.0
    """``eventpulse serve`` closes a connection that sent nothing for this long (waitress: 120 s)."""

    allowed_extensions: tuple[str, ...] = (".csv", ".tsv", ".xlsx", ".json", ".ndjson", ".jsonl", ".parquet")
    """File extensions accepted for ingestion (lowercase, with the dot)."""

    queue: QueueKind = "inline"
    """Task queue adapter: ``inline`` (in-process), ``rq`` (Redis + RQ workers) or ``cloud_tasks``."""

    inline_workers: int = 1
    """Threads of the ``inline`` queue in a server process; with more than one, several small
    ingestions of one dataset share their row checks' Great Expectations call (quality/coalesce.py)."""

    inline_batch_size: int = 1
    """Waiting ingestions an ``inline`` queue thread takes in one pass (pipeline/prevalidate.py)."""

    landing: LandingKind = "filesystem"
    """Raw landing adapter: ``filesystem`` (under data_dir/raw) or ``gcs`` (gcs_bucket)."""

    gcs_bucket: str | None = None
    """Bucket of the raw landing zone when landing is ``gcs``."""

    raw_prefix: str = "raw/"
    """Object-name prefix of raw objects in the bucket; finalize events outside it are ignored."""

    gcs_endpoint: str | None = None
    """Storage API endpoint of an emulator (e.g. http://127.0.0.1:4443); unset means Google's."""

    gcs_credentials_file: Path | None = None
    """Service-account key used to sign V4 URLs locally; unset means the runtime's credentials."""

    gcp_project: str = "eventpulse-local"
    """Google Cloud project id (Cloud Tasks queue path, emulators)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis used by the ``rq`` queue."""

    rq_queue_name: str = "eventpulse"
    """RQ queue that registration enqueues to and ``eventpulse worker`` serves."""

    worker_batch_size: int = 1
    """Ingestions one ``eventpulse worker`` job processes in one pass: its own, plus the dataset's
    other RECEIVED ones, each claimed on its own (worker.py, pipeline/prevalidate.py)."""

    job_timeout_seconds: int = 3600
    """Longest a queued processing job may run (RQ job timeout; Cloud Tasks dispatch deadline cap)."""

    tasks_location: str = "us-central1"
    """Cloud Tasks location."""

    tasks_queue: str = "eventpulse-ingest"
    """Cloud Tasks queue name."""

    tasks_endpoint: str | None = None
    """Cloud Tasks emulator address (host:port); unset means Google's API."""

    task_handler_url: str | None = None
    """URL Cloud Tasks posts ingestion ids to (the process_task function)."""

    task_oidc_service_account: str | None = None
    """Service account whose OIDC token Cloud Tasks attaches in production; unset sends X-Task-Token."""

    task_token: str | None = field(default=None, repr=False)
    """The X-Task-Token value this process sends to internal endpoints (a secret; never logged)."""

    api_tokens: tuple[ApiToken, ...] = ()
    """Named bearer tokens, ``name:role:sha256`` comma-separated; roles viewer, operator or admin."""

    api_token_sha256: tuple[str, ...] = ()
    """Older form: bare digests, each accepted as an ``operator`` token named ``legacy-<first 8 hex>``."""

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

    database_outage_wait_seconds: float = 60.0
    """How long a worker that lost its database connection mid-ingestion waits for the database to
    return before it gives the claim up to reclaim; once it is back, the worker processes the
    ingestion again under the same claim (0: give up at once). Keep it under ``stale_after_seconds``."""

    reclaim_interval_seconds: float = 60.0
    """How often ``eventpulse serve`` runs reclaim in the background (0 disables; cloud: the job)."""

    device_sweep_interval_seconds: float = 300.0
    """How often ``eventpulse serve`` runs the device sweep (0 disables; cloud: the device_sweep job)."""

    http_host: str = "127.0.0.1"
    """Interface the local HTTP server binds."""

    http_port: int = 8081
    """Port of the local HTTP server."""

    watch_interval_seconds: float = 2.0
    """Polling interval of the incoming-folder watcher."""

    batch_rows: int = 100_000
    """Rows per record batch while parsing, validating and loading (bounds memory)."""

    xlsx_max_expanded_bytes: int = 512 * 1024**2
    """Largest size one XML part of a workbook (a sheet, the shared strings) may expand to; checked
    before decoding, from the zip directory and again while inflating. Larger: FAILED_READ."""

    xlsx_max_cells: int = 10_000_000
    """Most cells a sheet may span, rows × columns from its first to its last cell (the reader holds
    them all: about 70 bytes each). Larger: FAILED_READ before decoding."""

    xlsx_max_compression_ratio: float = 250.0
    """Highest expanded/compressed ratio of a workbook XML part over 4 MiB (real sheets: 5-50)."""

    parquet_max_row_group_bytes: int = 1024**3
    """Largest uncompressed size a Parquet row group may declare (one row group is decoded at a time)."""

    json_max_record_bytes: int = 16 * 1024**2
    """Largest single JSON array element or NDJSON line, in bytes. Larger: FAILED_READ."""

    intake_max_waiting: int = 1000
    """Ingestions waiting for a worker (all sources) past which uploads and registrations get HTTP 429
    with Retry-After, until workers catch up (0: no limit). Counted from the database."""

    intake_max_waiting_per_source: int = 200
    """The same, per source (``device:<id>`` for a device, the ``source`` of an upload): one busy
    sender is slowed down before it fills the whole queue (0: no limit)."""

    intake_retry_after_seconds: int = 30
    """The ``Retry-After`` a shed request is answered with."""

    intake_backlog_cache_seconds: float = 1.0
    """How long a process reuses its count of waiting ingestions (one COUNT per interval, not per upload)."""

    cloudsql_instance: str | None = None
    """Cloud SQL instance connection name (``project:region:instance``): connect through the Cloud SQL
    Python connector (TLS, and IAM database auth unless ``cloudsql_iam_auth`` is off). DATABASE_URL then
    names only the user (the service account's email without ``.gserviceaccount.com``) and database."""

    cloudsql_ip_type: str = "private"
    """How the connector reaches the instance: ``private`` (VPC), ``public`` or ``psc``."""

    cloudsql_iam_auth: bool = True
    """IAM database authentication through the connector (no password); off: DATABASE_URL's password."""

    db_role: str | None = None
    """Postgres role every session switches to at login (SET ROLE, sent in the startup packet). With one
    IAM database user per service (Cloud SQL) it is the role that owns the schema, so that what one
    service creates the others can use; each login user must be a member of it."""

    db_pool_size: int = 5
    """Connections kept in the SQLAlchemy pool."""

    db_idle_in_transaction_timeout_seconds: float = 60.0
    """Postgres ends a session of ours idle in a transaction this long (its locks go); 0 disables."""

    openlineage_url: str | None = None
    """Base URL of an OpenLineage HTTP receiver (Marquez, ...); unset means events stay in the outbox only."""

    openlineage_endpoint: str = "api/v1/lineage"
    """Path under ``openlineage_url`` that events are POSTed to."""

    openlineage_api_key: str | None = field(default=None, repr=False)
    """Bearer token sent to the receiver (a secret; never logged)."""

    openlineage_timeout_seconds: float = 5.0
    """How long one push may take before it counts as failed and is retried later."""

    device_registry: DeviceRegistryKind = "postgres"
    """Where field devices are registered: ``postgres`` (the metadata database) or ``firestore``."""

    firestore_database: str = "(default)"
    """Firestore database id of the device registry (project: gcp_project)."""

    firestore_emulator_host: str | None = None
    """host:port of a Firestore emulator; unset means Google's API."""

    firestore_collection_prefix: str = ""
    """Prefix of the registry's collection names (one Firestore database can host several registries)."""

    edge_enroll_token_sha256: tuple[str, ...] = ()
    """Hex sha256 digests of the fleet bootstrap tokens accepted in ``X-Device-Enroll-Token``."""

    device_token_pepper: str | None = field(default=None, repr=False)
    """Server-side key of the HMAC that device tokens and fingerprints are stored under (a secret)."""

    edge_datasets: tuple[str, ...] = ("edge_telemetry",)
    """Datasets every device may send, unless its registry entry names its own."""

    device_offline_after_seconds: float = 300.0
    """A device not heard from for this long is shown offline."""

    device_seen_resolution_seconds: float = 10.0
    """A device request records last seen only when the stored value is older than this (heartbeats
    always do): one write per device per window, not one commit per upload."""

    device_cadence_seconds: float = 300.0
    """How often a device is expected to be heard, unless its registry entry says otherwise."""

    device_silent_grace: float = 2.0
    """A device silent for longer than its cadence times this factor gets a ``silent`` alert."""

    enroll_rate_per_minute: int = 10
    """Enrollment attempts accepted per client address per minute (more get HTTP 429)."""

    trusted_proxy_hops: int = 0
    """Proxies in front of the API that append to X-Forwarded-For; the client address is the one the
    outermost of them saw (0: the socket's peer; Cloud Functions/Run behind Google's front end: 1)."""

    command_ttl_seconds: float = 86_400.0
    """How long a queued command waits for its device before it expires (default; per command too)."""

    media_max_bytes: int = 512 * 1024**2
    """Largest photo or video a device may upload (serve raises waitress's body limit to it if needed)."""

    media_url_expires_seconds: int = 900
    """How long a media PUT or read URL (and a device's signed data-upload URL) stays valid."""

    gate_engine: GateEngine = "compiled"
    """``compiled``: the quality gate evaluates the expectations it can compile with pyarrow, with Great
    Expectations' verdicts, and the rest with GX; ``gx``: every expectation through GX
    (quality/compiled.py)."""

    log_format: LogFormat = "auto"
    """``json`` (Cloud Logging's structured lines), ``text``, or ``auto``: text on a terminal, else JSON."""

    log_level: str = "INFO"
    """Lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL (``eventpulse -v`` means DEBUG)."""

    web_dir: Path = Path("web/dist")
    """Folder of the built web dashboard (``make web``) that ``eventpulse serve`` serves at ``/``."""

    web_api_base_url: str = ""
    """The API's base URL as the dashboard sees it, served in ``/config.json`` (empty: same origin)."""

    @property
    def accepted_api_tokens(self) -> tuple[ApiToken, ...]:
        """Every bearer token accepted: the named ones, then one per legacy digest."""
        legacy = tuple(
            ApiToken(name=f"legacy-{digest.strip().lower()[:8]}", role=LEGACY_TOKEN_ROLE, sha256=digest)
            for digest in self.api_token_sha256
        )
        return self.api_tokens + legacy

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
            if not raw and f.name == "database_url":
                raw = env.get("DATABASE_URL")
            if raw is None or raw == "":
                continue
            values[f.name] = parse_api_tokens(key, raw) if f.name == "api_tokens" else _parse(key, raw, f)
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
        ensure_limits_positive(self)
        if self.intake_max_waiting < 0 or self.intake_max_waiting_per_source < 0:
            raise SettingsError(
                f"{PREFIX}INTAKE_MAX_WAITING and {PREFIX}INTAKE_MAX_WAITING_PER_SOURCE must be 0 (off) "
                "or more"
            )
        if self.intake_backlog_cache_seconds < 0:
            raise SettingsError(f"{PREFIX}INTAKE_BACKLOG_CACHE_SECONDS must be 0 or more")
        if self.inline_workers < 1:
            raise SettingsError(f"{PREFIX}INLINE_WORKERS must be at least 1")
        if self.inline_batch_size < 1:
            raise SettingsError(f"{PREFIX}INLINE_BATCH_SIZE must be at least 1")
        if self.worker_batch_size < 1:
            raise SettingsError(f"{PREFIX}WORKER_BATCH_SIZE must be at least 1")
        if self.db_idle_in_transaction_timeout_seconds < 0:
            raise SettingsError(
                f"{PREFIX}DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS must be 0 (off) or a number of seconds"
            )
        if self.serve_connection_limit < 10:
            raise SettingsError(f"{PREFIX}SERVE_CONNECTION_LIMIT must be at least 10")
        if self.serve_channel_timeout_seconds <= 0:
            raise SettingsError(f"{PREFIX}SERVE_CHANNEL_TIMEOUT_SECONDS must be a positive number of seconds")
        if self.cloudsql_ip_type not in ("private", "public", "psc"):
            raise SettingsError(f"{PREFIX}CLOUDSQL_IP_TYPE must be private, public or psc")
        if self.cloudsql_instance is not None and not is_instance_name(self.cloudsql_instance):
            raise SettingsError(
                f"{PREFIX}CLOUDSQL_INSTANCE must be an instance connection name, project:region:instance "
                "(gcloud sql instances describe NAME --format='value(connectionName)')"
            )
        if self.db_role is not None and not re.fullmatch(r"[A-Za-z_][\w.@-]{0,62}", self.db_role):
            raise SettingsError(f"{PREFIX}DB_ROLE must be a Postgres role name, not {self.db_role!r}")
        if self.database_outage_wait_seconds < 0:
            raise SettingsError(
                f"{PREFIX}DATABASE_OUTAGE_WAIT_SECONDS must be 0 (off) or a number of seconds"
            )
        if self.queue not in ("inline", "rq", "cloud_tasks"):
            raise SettingsError(f"{PREFIX}QUEUE must be inline, rq or cloud_tasks, not {self.queue!r}")
        if self.landing not in ("filesystem", "gcs"):
            raise SettingsError(f"{PREFIX}LANDING must be filesystem or gcs, not {self.landing!r}")
        if self.landing == "gcs" and not self.gcs_bucket:
            raise SettingsError(f"{PREFIX}GCS_BUCKET must be set when {PREFIX}LANDING=gcs")
        if self.gate_engine not in ("compiled", "gx"):
            raise SettingsError(f"{PREFIX}GATE_ENGINE must be compiled or gx, not {self.gate_engine!r}")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"{PREFIX}LOG_FORMAT must be auto, json or text, not {self.log_format!r}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(
                f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}"
            )
        if self.queue == "cloud_tasks" and not self.task_handler_url:
            raise SettingsError(f"{PREFIX}TASK_HANDLER_URL must be set when {PREFIX}QUEUE=cloud_tasks")
        if self.openlineage_timeout_seconds <= 0:
            raise SettingsError(f"{PREFIX}OPENLINEAGE_TIMEOUT_SECONDS must be a positive number of seconds")
        if self.openlineage_url and not self.openlineage_url.startswith(("http://", "https://")):
            raise SettingsError(f"{PREFIX}OPENLINEAGE_URL must be an http:// or https:// URL")
        if self.device_registry not in ("postgres", "firestore"):
            raise SettingsError(
                f"{PREFIX}DEVICE_REGISTRY must be postgres or firestore, not {self.device_registry!r}"
            )
        if self.device_offline_after_seconds <= 0 or self.device_cadence_seconds <= 0:
            raise SettingsError(
                f"{PREFIX}DEVICE_OFFLINE_AFTER_SECONDS and {PREFIX}DEVICE_CADENCE_SECONDS must be positive"
            )
        if not 0 <= self.device_seen_resolution_seconds < self.device_offline_after_seconds:
            raise SettingsError(
                f"{PREFIX}DEVICE_SEEN_RESOLUTION_SECONDS must be at least 0 and below "
                f"{PREFIX}DEVICE_OFFLINE_AFTER_SECONDS"
            )
        if self.device_silent_grace < 1:
            raise SettingsError(f"{PREFIX}DEVICE_SILENT_GRACE must be at least 1 (a multiple of the cadence)")
        if self.enroll_rate_per_minute < 1:
            raise SettingsError(f"{PREFIX}ENROLL_RATE_PER_MINUTE must be at least 1")
        if not 0 <= self.trusted_proxy_hops <= 5:
            raise SettingsError(f"{PREFIX}TRUSTED_PROXY_HOPS must be between 0 and 5")
        ensure_distinct_tokens(self.accepted_api_tokens)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests and the CLI use this)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


POSITIVE_LIMITS = (
    "intake_retry_after_seconds",
    "xlsx_max_expanded_bytes",
    "xlsx_max_cells",
    "xlsx_max_compression_ratio",
    "parquet_max_row_group_bytes",
    "json_max_record_bytes",
)


def ensure_limits_positive(settings: Settings) -> None:
    for name in POSITIVE_LIMITS:
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be a positive number")


def parse_api_tokens(key: str, raw: str) -> tuple[ApiToken, ...]:
    """``name:role:sha256`` entries, comma-separated (whitespace around entries is ignored)."""
    tokens = []
    for position, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if entry:
            tokens.append(_parse_token(key, position, entry))
    return tuple(tokens)


def _parse_token(key: str, position: int, entry: str) -> ApiToken:
    parts = [p.strip() for p in entry.split(":")]
    where = f"{key} entry {position}"
    if len(parts) != 3:
        raise SettingsError(
            f"{where} has {len(parts)} part(s); write name:role:sha256, e.g. ci:operator:<64 hex digits>"
        )
    name, role, digest = parts[0], parts[1].lower(), parts[2].lower()
    if not _TOKEN_NAME.match(name):
        raise SettingsError(
            f"{where}: token name {name[:70]!r} is not valid; use 1-64 letters, digits, '.', '_' or '-'"
        )
    if role not in TOKEN_ROLES:
        raise SettingsError(f"{where} ({name}): unknown role {role[:30]!r}; roles: {', '.join(TOKEN_ROLES)}")
    if not _SHA256_HEX.match(digest):
        raise SettingsError(
            f"{where} ({name}): the third part must be the token's sha256 as 64 hex digits, not the token"
        )
    return ApiToken(name=name, role=cast(TokenRole, role), sha256=digest)


def ensure_distinct_tokens(tokens: tuple[ApiToken, ...]) -> None:
    """Names must be unique (the audit log tells tokens apart by name), and so must digests."""
    names: set[str] = set()
    digests: dict[str, str] = {}
    for token in tokens:
        if token.name in names:
            raise SettingsError(
                f"{PREFIX}API_TOKENS names the token {token.name!r} twice; names must be unique"
            )
        names.add(token.name)
        digest = token.sha256.strip().lower()
        if digest in digests:
            raise SettingsError(
                f"tokens {digests[digest]!r} and {token.name!r} have the same sha256; give each its own token"
            )
        digests[digest] = token.name


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
        if kind in ("Path", "Path | None"):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise SettingsError(f"{key}={raw!r} is not valid: {exc}") from None
