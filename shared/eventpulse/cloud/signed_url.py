"""Mint V4 signed PUT URLs: a client uploads straight to the landing bucket, create-only.

The dataset, filename, extension and contract are checked exactly as for an API upload, before any
URL exists. Where the object goes depends on what the client declares:

- with ``sha256``: the raw name itself, ``<raw_prefix><dataset>/<sha256><ext>``. The finalize handler
  hashes the bytes before registering them and rejects (and deletes) an object that lied.
- without: ``uploads/<dataset>/<random token><ext>``; the finalize handler hashes it and copies it to
  its raw name. Content addressing needs the hash, and a client that cannot compute one still gets a
  direct upload.

With ``header`` (a CSV file's first line, as text) or ``columns`` (the column names, any format), the
intent is checked against the dataset's contract and drift policy first (pipeline/intent.py): a
change the policy rejects is refused with 422 naming it, and no URL exists for a file that would
only fail. The check reads the dataset's schema history from the store.

Every header in the answer is signed: the client must send each one exactly, and GCS refuses the
upload otherwise. ``x-goog-if-generation-match: 0`` makes it create-only: a second PUT to the same
name gets 412 (for a raw name that means these bytes are already landed).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventpulse.errors import BadRequest, ReadError
from eventpulse.landing.bucket import UPLOADS_PREFIX, require_gcs_landing
from eventpulse.landing.intake import (
    clean_filename,
    ensure_allowed_extension,
    ensure_content_type,
    ensure_sha256,
    ensure_valid_contract,
)
from eventpulse.landing.keys import content_type_for, encode_metadata_filename, extension_of
from eventpulse.landing.peek import HEADER_MAX_BYTES
from eventpulse.parse.formats import detect_format
from eventpulse.parse.header import Header, build_declared_columns, build_declared_header
from eventpulse.pipeline.intent import HeaderCheck, load_header_check
from eventpulse.schema.naming import ensure_dataset_name

if TYPE_CHECKING:
    from eventpulse.contracts.model import Contract
    from eventpulse.ports import Services

MAX_EXPIRES_SECONDS = 7 * 24 * 3600  # the V4 signing limit
_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_DECLARED_COLUMNS = 10_000
SIGNED_UPLOAD_HEADERS = (
    "content-type",
    "x-goog-if-generation-match",
    "x-goog-meta-dataset",
    "x-goog-meta-filename",
    "x-goog-meta-sha256",
    "x-goog-meta-source",
)
"""Every header an upload URL is signed with (here and the edge's gcs_signed_url): the raw bucket's
CORS rule (infra/terraform/modules/storage) lets a browser's PUT send each of them."""


def mint_upload_url(
    services: Services,
    *,
    dataset: str,
    filename: str,
    sha256: str | None = None,
    content_type: str | None = None,
    source: str = "signed_url",
    expires_seconds: int = 900,
    header: str | None = None,
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A signed PUT for one upload intent: {url, method, headers, object_name, bucket, expires_at}.

    With ``header`` or ``columns``, also ``header_check``; a header the drift policy rejects raises
    HeaderRefused (422) and no URL is minted.
    """
    dataset = ensure_dataset_name(dataset or "")
    filename = clean_filename(filename)
    ensure_allowed_extension(services, filename)
    contract = ensure_valid_contract(services, dataset)
    ensure_expiry(expires_seconds)
    if not _SOURCE.match(source):
        raise BadRequest(f"source {source!r} is not a valid source name", hint="use [a-z][a-z0-9_]{0,39}")
    declared = build_intent_header(filename, header, columns)
    checked = check_intent_header(services, contract, declared) if declared else None
    landing = require_gcs_landing(services)
    headers = {
        "content-type": ensure_content_type(content_type) if content_type else content_type_for(filename),
        "x-goog-if-generation-match": "0",
        "x-goog-meta-dataset": dataset,
        "x-goog-meta-source": source,
        "x-goog-meta-filename": encode_metadata_filename(filename),
    }
    if sha256 is not None:
        sha256 = ensure_sha256(sha256)
        headers["x-goog-meta-sha256"] = sha256
        object_name = landing.object_name(dataset, sha256, filename)
    else:
        object_name = f"{UPLOADS_PREFIX}{dataset}/{uuid.uuid4().hex}{extension_of(filename)}"
    expires = timedelta(seconds=expires_seconds)
    url = landing.signed_put_url(object_name, headers=headers, expires=expires)
    minted: dict[str, Any] = {
        "url": url,
        "method": "PUT",
        "headers": headers,
        "bucket": landing.bucket_name,
        "object_name": object_name,
        "expires_at": (datetime.now(UTC) + expires).isoformat(timespec="seconds"),
    }
    if checked is not None:
        minted["header_check"] = checked.to_dict()
    return minted


def build_intent_header(filename: str, header: str | None, columns: Sequence[str] | None) -> Header | None:
    """The columns an upload intent declares: a CSV ``header`` line or ``columns``; None: neither."""
    if header is not None and columns is not None:
        raise BadRequest(
            "send header or columns, not both",
            hint="header: a CSV file's first line as text; columns: the list of column names",
            details={"parameter": "header"},
        )
    try:
        if header is not None:
            return _declared_header_line(filename, header)
        if columns is not None:
            return _declared_columns(columns)
    except ReadError as exc:  # e.g. two names that normalize to the same column
        raise BadRequest(f"the declared header cannot be used: {exc.message}", hint=exc.hint) from None
    return None


def check_intent_header(services: Services, contract: Contract, declared: Header) -> HeaderCheck:
    """The declared header's check against the dataset's history; HeaderRefused (422) on reject."""
    return load_header_check(services, contract, declared).ensure_accepted()


def _declared_header_line(filename: str, header: str) -> Header:
    fmt = detect_format(filename)
    if fmt != "csv":
        raise BadRequest(
            f"header is a CSV file's first line; {filename!r} is a {fmt} file",
            hint='declare its column names instead: "columns": ["id", "name", ...]',
            details={"parameter": "header", "format": fmt},
        )
    if len(header.encode()) > HEADER_MAX_BYTES:
        raise BadRequest(
            f"header is longer than {HEADER_MAX_BYTES // 1024} KiB",
            hint="send the file's first line only, or its column names as columns",
            details={"parameter": "header", "limit_bytes": HEADER_MAX_BYTES},
        )
    return build_declared_header(header, filename)


def _declared_columns(columns: Sequence[str]) -> Header:
    if not columns or len(columns) > MAX_DECLARED_COLUMNS:
        raise BadRequest(
            f"columns must list 1 to {MAX_DECLARED_COLUMNS} column names",
            hint='send the file\'s column names in order, e.g. ["id", "name"]',
            details={"parameter": "columns"},
        )
    return build_declared_columns(columns)


def ensure_expiry(seconds: int) -> None:
    if not 1 <= seconds <= MAX_EXPIRES_SECONDS:
        raise BadRequest(
            f"expires_seconds {seconds} is out of range", hint=f"use 1 to {MAX_EXPIRES_SECONDS} seconds"
        )
