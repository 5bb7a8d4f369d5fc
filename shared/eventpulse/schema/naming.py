"""Dataset and column names that are safe SQL identifiers (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from eventpulse.errors import BadRequest, ReadError

MAX_IDENTIFIER = 63  # Postgres truncates identifiers to 63 bytes; all our names are ASCII
DATASET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_UNSAFE_RUN = re.compile(r"[^a-z0-9_]+")

POSTGRES_MAX_COLUMNS = 1600
"""A Postgres table holds at most 1,600 columns, dropped ones included."""
RESERVED_COLUMNS = 16
"""Kept free for the lineage columns (five today) and those a later release may add."""
MAX_DATA_COLUMNS = POSTGRES_MAX_COLUMNS - RESERVED_COLUMNS
"""The most data columns a file may have: a wider one could never load into a curated table."""
SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"})
"""Postgres's system column names: no table may have a column of that name."""


def ensure_dataset_name(name: str) -> str:
    """Return ``name`` stripped and lowercased, or raise BadRequest if it breaks the naming rule."""
    cleaned = name.strip().lower()
    if not DATASET_NAME_RE.match(cleaned):
        raise BadRequest(
            f"invalid dataset name {name!r}",
            hint="a dataset name starts with a letter a-z, then up to 62 letters a-z, digits or "
            "underscores (pattern ^[a-z][a-z0-9_]{0,62}$)",
            details={"dataset": name},
        )
    return cleaned


def _ascii_char(ch: str) -> str:
    # NFKD splits "é" into "e" + a combining accent: keep the letter, drop the accent. A character
    # with no ASCII form ("ß", CJK) becomes "_" so that distinct names do not silently merge.
    if ch.isascii():
        return ch
    return "" if unicodedata.combining(ch) else "_"


def normalize_column_name(name: str, position: int) -> str:
    """Return a safe identifier for one header; ``position`` is 1-based and names blank headers."""
    ascii_text = "".join(_ascii_char(ch) for ch in unicodedata.normalize("NFKD", name))
    out = _UNSAFE_RUN.sub("_", ascii_text.strip().lower()).rstrip("_")
    if not out.strip("_"):  # blank header, or nothing but punctuation
        return f"column_{position}"
    if out[0].isdigit():
        out = "c_" + out
    elif out[0] == "_":
        out = "c" + out  # the "_" prefix is reserved for lineage columns such as _ingestion_id
    elif out in SYSTEM_COLUMNS:
        out = "c_" + out  # Postgres refuses a column named like a system column (ctid, xmin, ...)
    return out[:MAX_IDENTIFIER]


def normalize_column_names(names: Sequence[str]) -> list[str]:
    """Return safe, unique identifiers for ``names``; raise ReadError if two headers collide.

    A file with more than MAX_DATA_COLUMNS columns is refused here: no curated table could hold it.
    """
    if len(names) > MAX_DATA_COLUMNS:
        raise ReadError(
            f"the file has {len(names):,} columns; a curated table holds at most {MAX_DATA_COLUMNS:,}",
            hint=f"split the file into files of at most {MAX_DATA_COLUMNS:,} columns (each its own "
            "dataset), or check the delimiter: a wrong one can split a row into many columns",
            details={"columns": len(names), "max_columns": MAX_DATA_COLUMNS},
        )
    out: list[str] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(names):
        norm = normalize_column_name("" if raw is None else str(raw), index + 1)
        if norm in first_seen:
            other = first_seen[norm]
            raise ReadError(
                f"columns {names[other]!r} (position {other + 1}) and {raw!r} (position {index + 1}) "
                f"both become {norm!r}",
                hint="rename one of the two headers so that they differ in letters or digits",
                details={"column": norm, "positions": [other + 1, index + 1]},
            )
        first_seen[norm] = index
        out.append(norm)
    return out
