"""What every way in checks before bytes are accepted: dataset, file name, extension, contract.

The signed-URL function validates an upload intent with these alone. The contract is the dataset's
current one (contracts/registry.py: the contracts folder and the saves through the API, reconciled in
the store); parsing it imports no Great Expectations and no pandas (contracts/loader.py).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from eventpulse.contracts.loader import ensure_dataset_name
from eventpulse.contracts.registry import NoContract, not_found, resolve_contract
from eventpulse.errors import BadRequest, UnsupportedMediaType
from eventpulse.landing.keys import extension_of
from eventpulse.parse.formats import TEXT_ENCODING_EXAMPLES, canonical_text_encoding

if TYPE_CHECKING:
    from eventpulse.contracts.model import Contract
    from eventpulse.ports import Services

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(; ?[\w-]+=[\w.-]+)?$")


def clean_filename(filename: str | None) -> str:
    """The display name of a client file: its last path segment, without control characters."""
    base = PurePosixPath((filename or "").replace("\\", "/")).name
    base = unicodedata.normalize("NFC", _CONTROL.sub("", base)).strip()
    if not base or base in (".", ".."):
        raise BadRequest("filename is missing", hint="pass the original file name, e.g. ?filename=sales.csv")
    if len(base) > 255:  # shorten the stem, never the extension that decides the format
        stem, ext = os.path.splitext(base)
        base = stem[: 255 - len(ext)] + ext
    return base


def build_read_options(*, sheet: str | None = None, encoding: str | None = None) -> dict[str, Any]:
    """Per-ingestion read options a client may set: the XLSX sheet and the declared text encoding."""
    options: dict[str, Any] = {}
    if sheet:
        options["sheet"] = sheet
    if encoding:
        canonical = canonical_text_encoding(encoding)
        if canonical is None:
            raise BadRequest(
                f"encoding {encoding[:40]!r} is not a known text encoding",
                hint=f"name the file's text encoding as Python does, e.g. {TEXT_ENCODING_EXAMPLES}; "
                "or leave encoding out to detect it",
                details={"parameter": "encoding"},
            )
        options["encoding"] = canonical
    return options


def ensure_allowed_extension(services: Services, filename: str) -> str:
    ext = extension_of(filename)
    allowed = services.settings.allowed_extensions
    if ext not in allowed:
        raise UnsupportedMediaType(
            f"file {filename!r} has extension {ext or '(none)'!r}, which is not accepted",
            hint=f"accepted extensions: {', '.join(allowed)}",
        )
    return ext


def ensure_valid_contract(services: Services, dataset: str) -> Contract:
    """The dataset's current contract, which validates: 404 when none exists, 422 naming the broken key."""
    ensure_dataset_name(dataset)
    # Accepting bytes that cannot be processed would only fail later: resolve the contract now.
    try:
        return resolve_contract(services, dataset)
    except NoContract as missing:
        raise not_found(missing) from None


def ensure_sha256(value: str) -> str:
    cleaned = value.strip().lower()
    if not _SHA256.match(cleaned):
        raise BadRequest(
            f"sha256 {value!r} is not a hex sha256 digest",
            hint="send the 64 hex characters of the file's sha256, or omit sha256",
        )
    return cleaned


def ensure_content_type(value: str) -> str:
    cleaned = value.strip()
    if not _CONTENT_TYPE.match(cleaned):
        raise BadRequest(f"content_type {value!r} is not a valid media type", hint="e.g. text/csv")
    return cleaned
