"""Which sheet of a workbook a new ingestion reads; the sheet is part of its identity (pure).

An original ingestion is unique per (dataset, sha256, sheet), so each sheet of one workbook can be
ingested on its own and the same sheet twice is one ingestion. The sheet is decided at registration,
before the file is read, and kept in the ingestion's options, so a replay reads the same sheet:

- a sheet the client names (``?sheet=``, ``--sheet``) is the sheet, by name;
- else the contract's ``sheet`` (a name, or a 0-based index);
- else the first sheet, whatever its name.

The identity ``sheet`` is '' for a file that is not a workbook and for the first sheet when none was
named (index 0 included), the name for a named sheet, and ``[n]`` for an index n > 0 (Excel forbids
brackets in sheet names, so it never collides with one). Naming the first sheet (``?sheet=Data``) is
another identity than naming none: its name is not known before the file is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from eventpulse.errors import BadRequest
from eventpulse.parse.formats import EXTENSIONS

FORBIDDEN_CHARACTERS = frozenset("\\/?*[]:")
"""Characters Excel refuses in a sheet name."""
FIRST_SHEET = 0


@dataclass(frozen=True)
class SheetChoice:
    options: dict[str, Any]
    """The ingestion's read options; ``sheet`` is a name or a 0-based index for a workbook."""
    key: str
    """The sheet as part of the ingestion's identity."""


def is_workbook(filename: str) -> bool:
    return EXTENSIONS.get(PurePath(filename.strip()).suffix.lower()) == "xlsx"


def decide_sheet(
    filename: str, options: Mapping[str, Any] | None, contract_sheet: str | int | None
) -> SheetChoice:
    """The sheet a new ingestion of ``filename`` reads and its identity; BadRequest for a bad ``sheet``."""
    chosen = dict(options or {})
    requested = chosen.pop("sheet", None)
    if requested in (None, ""):
        requested = None
    if not is_workbook(filename):
        if requested is not None:
            raise BadRequest(
                f"sheet {requested!r} was given for {filename!r}, which is not a workbook",
                hint="sheet names a worksheet of an .xlsx file; leave it out for other files",
                details={"parameter": "sheet"},
            )
        return SheetChoice(chosen, "")
    if requested is not None:
        sheet = ensure_sheet(requested)
    else:
        sheet = FIRST_SHEET if contract_sheet is None else contract_sheet
    return SheetChoice({**chosen, "sheet": sheet}, build_sheet_key(sheet))


def ensure_sheet(sheet: object) -> str | int:
    """A sheet a client may name: a sheet name Excel allows, or a 0-based index."""
    if isinstance(sheet, int) and not isinstance(sheet, bool) and sheet >= 0:
        return sheet
    if not isinstance(sheet, str) or not sheet.strip():
        raise BadRequest(
            f"sheet {sheet!r} is not a sheet name",
            hint="name a worksheet of the file",
            details={"parameter": "sheet"},
        )
    bad = sorted({c for c in sheet if c in FORBIDDEN_CHARACTERS or not c.isprintable()})
    if bad:
        raise BadRequest(
            f"sheet {sheet[:80]!r} cannot be a worksheet name: it contains {''.join(bad)!r}",
            hint="a worksheet name has none of \\ / ? * [ ] : ; copy the name from the workbook's tab",
            details={"parameter": "sheet"},
        )
    return sheet


def build_sheet_key(sheet: str | int) -> str:
    """The identity of a sheet: '' for the first by position, ``[n]`` for another index, else the name."""
    if isinstance(sheet, int):
        return "" if sheet == FIRST_SHEET else f"[{sheet}]"
    return sheet
