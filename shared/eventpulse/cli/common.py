"""What every ``eventpulse`` command shares: settings, services, exit codes, output of an ingestion.

Settings are read here, once, from the environment: the CLI is one of the edges allowed to.
Exit codes: 0 success (ingestion LOADED), 1 the ingestion failed or was held, 2 usage or input errors.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, cast

import click

from eventpulse.errors import BadRequest, EventPulseError, NotFound, UnsupportedMediaType
from eventpulse.landing.duplicate import describe_duplicate
from eventpulse.settings import ApiToken, Settings, SettingsError
from eventpulse.states import LOADED_STATES, TERMINAL, Status

if TYPE_CHECKING:
    from eventpulse.bootstrap import AppServices

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROGRESS_MIN_BYTES = 50 * 1024 * 1024
FINAL_FOR_CLI = TERMINAL | {Status.QUARANTINED, Status.FAILED_EXCEPTION}
"""States the CLI reports as an outcome (FAILED_EXCEPTION may still be retried by the reclaim job)."""
USAGE_ERRORS = (BadRequest, UnsupportedMediaType, NotFound)


class ProgressReader:
    """A read-only file wrapper that advances a click progress bar as bytes are read."""

    def __init__(self, raw: BinaryIO, bar: Any):
        self._raw = raw
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._bar.update(len(chunk))
        return chunk


@contextmanager
def open_with_progress(path: Path, label: str) -> Iterator[BinaryIO]:
    """Open ``path``; show a progress bar when stderr is a terminal or the file is large."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        if not (sys.stderr.isatty() or size > PROGRESS_MIN_BYTES):
            yield raw
            return
        with click.progressbar(length=size, label=label, file=sys.stderr) as bar:
            yield cast(BinaryIO, ProgressReader(raw, bar))


def load_settings() -> Settings:
    try:
        return Settings.from_mapping(os.environ)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


LOCAL_TOKEN_NAME = "local-admin"


def ensure_local_tokens(settings: Settings) -> Settings:
    """The local server's credentials: API token, task token and edge secrets, each made once."""
    return ensure_local_edge_secrets(ensure_local_task_token(ensure_local_api_token(settings)))


def ensure_local_api_token(settings: Settings) -> Settings:
    """In local mode without a configured token, create an admin token once under secrets/ and accept it.

    It is named ``local-admin``: the audit log records its actions as ``token:local-admin``.
    """
    if settings.mode != "local" or settings.accepted_api_tokens or settings.auth_disabled:
        return settings
    path = settings.secrets_dir / "api_token"
    digest = _sha256_of_secret_file(path)
    click.echo(
        f"API token {LOCAL_TOKEN_NAME!r}, role admin (send as 'Authorization: Bearer <token>'): {path}",
        err=True,
    )
    return settings.with_overrides(api_tokens=(ApiToken(name=LOCAL_TOKEN_NAME, role="admin", sha256=digest),))


def ensure_local_task_token(settings: Settings) -> Settings:
    """In local mode without a configured task token, create one once under secrets/ and accept it.

    Internal routes (``/api/ingest/from_path``, ``/api/ingest/from_gcs``, ``/internal/admin/*``) take it
    in ``X-Task-Token``, as the cloud's dispatchers do.
    """
    if settings.mode != "local" or settings.task_token_sha256 or settings.auth_disabled:
        return settings
    path = settings.secrets_dir / "task_token"
    digest = _sha256_of_secret_file(path)
    click.echo(f"task token (send as 'X-Task-Token: <token>' to internal routes): {path}", err=True)
    return settings.with_overrides(task_token_sha256=(digest,))


def ensure_local_edge_secrets(settings: Settings) -> Settings:
    """In local mode, open device enrollment on a fresh data dir: a fleet enroll token and a pepper.

    Each is made once under secrets/ when its setting is unset: ``edge_enroll_token`` (a device sends
    it in ``X-Device-Enroll-Token``; only its sha256 is accepted) and ``device_token_pepper`` (the
    HMAC key device tokens are stored under; reusing it keeps every enrolled device's token valid).
    The paths are printed; the pepper never is.
    """
    if settings.mode != "local":
        return settings
    overrides: dict[str, object] = {}
    if not settings.edge_enroll_token_sha256:
        path = settings.secrets_dir / "edge_enroll_token"
        overrides["edge_enroll_token_sha256"] = (_sha256_of_secret_file(path),)
        click.echo(
            f"edge enroll token (send as 'X-Device-Enroll-Token: <token>' to enroll): {path}", err=True
        )
    if not settings.device_token_pepper:
        path = settings.secrets_dir / "device_token_pepper"
        overrides["device_token_pepper"] = load_or_create_secret(path)
        click.echo(
            f"device token pepper (keep it: a new one invalidates every device token): {path}", err=True
        )
    return settings.with_overrides(**overrides) if overrides else settings


def _sha256_of_secret_file(path: Path) -> str:
    """The sha256 of the secret in ``path``, creating the file (mode 0600) with a new one the first time."""
    return hashlib.sha256(load_or_create_secret(path).encode()).hexdigest()


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``; the first time, a new random one, written atomically with mode 0600.

    The secret is written and fsynced under a temporary name, then linked into place: a crash leaves
    either no file or a whole one, and when two processes race the first link wins and both use it.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process made it first: use theirs
                pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def exit_code_for(status: str | None) -> int:
    """1 for a failed or held outcome; 0 for LOADED (also with rows quarantined) and states in flight."""
    return EXIT_FAILED if status in FINAL_FOR_CLI and status not in LOADED_STATES else EXIT_OK


def echo_ingestion(row: dict[str, Any], *, deduplicated: bool = False) -> None:
    """Print the ingestion's id, status, rows loaded and, on failure, the error message and hint.

    For a re-upload of known bytes, first say which ingestion they are and what to do next.
    """
    note = " (same bytes already registered)" if deduplicated else ""
    click.echo(f"ingestion {row['id']}{note}")
    click.echo(f"status: {row['status']}")
    if row.get("sheet"):
        click.echo(f"sheet: {row['sheet']}")
    if deduplicated:
        echo_duplicate(row)
    if row.get("rows_loaded") is not None:
        click.echo(f"rows loaded: {row['rows_loaded']}")
    if row.get("rows_quarantined"):
        click.echo(
            f"rows quarantined: {row['rows_quarantined']} (GET /api/quarantine?ingestion_id={row['id']})"
        )
    error = row.get("error")
    if row["status"] not in LOADED_STATES and isinstance(error, dict):
        click.echo(f"error: {error.get('message', '')}", err=True)
        if error.get("hint"):
            click.echo(f"hint: {error['hint']}", err=True)


def echo_duplicate(row: dict[str, Any]) -> None:
    duplicate = describe_duplicate(row)
    click.echo(f"note: {duplicate['message']}")
    for step in duplicate["next_steps"]:
        click.echo(f"  to {step['description']}: {step['command']}  (or {step['route']})")


def fail_with(exc: EventPulseError) -> NoReturn:
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILED)


def build_cli_services(settings: Settings, *, background: bool = False) -> AppServices:
    """Services for one command (the composition root is imported late: ``--help`` stays fast)."""
    from eventpulse.bootstrap import build_services

    return build_services(settings, background=background)


def fetch_ingestion(services: AppServices, ingestion_id: uuid.UUID) -> dict[str, Any]:
    """The ingestion's row; exits with a usage error when it does not exist."""
    with services.store.read() as tx:
        row = tx.ingestions.get(ingestion_id)
    if row is None:
        fail_with(NotFound(f"ingestion {ingestion_id} does not exist"))
    return row


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise click.BadParameter(f"{raw!r} is not a UUID") from None


def exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit, so clean-up runs (the embedded Postgres stops at exit)."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))


def act_on(ingestion_id: str, action: Callable[[AppServices, uuid.UUID], dict[str, Any]]) -> dict[str, Any]:
    """Run one action on an ingestion with in-process services; errors exit with their message."""
    key = parse_id(ingestion_id)
    services = build_cli_services(load_settings())
    try:
        return action(services, key)
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()
