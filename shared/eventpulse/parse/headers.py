"""Find the header row of a sheet whose first rows are titles, notes or blank (pure).

A header row is a row whose non-empty cells are mostly distinct text (not numbers) and, when the
dataset's columns are known, the row that names the most of them. With no evidence either way the
first row is the header, as before: a well-formed sheet never moves.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from eventpulse.schema.naming import normalize_column_name

HEADER_PROBE_ROWS = 20
"""Rows looked at for a header; a header further down is not found (the first row is used)."""
_MIN_DISTINCT = 0.9
_MIN_TEXT = 0.8

Cell = str | None


def find_header_row(rows: Sequence[Sequence[Cell]], expected: Collection[str] = ()) -> int:
    """The 0-based index of the header among ``rows`` (the sheet's first rows, as text)."""
    probe = [[c for c in row if c not in (None, "")] for row in rows[:HEADER_PROBE_ROWS]]
    widest = max((len(cells) for cells in probe), default=0)
    best, best_matches = None, 0
    for index, cells in enumerate(probe):
        if not _looks_like_header(cells):
            continue
        matches = len({normalize_column_name(str(c), 0) for c in cells} & set(expected))
        if matches > best_matches:
            best, best_matches = index, matches
        elif best is None and best_matches == 0 and len(cells) >= max(2, widest / 2):
            best = index  # the first header-like row, unless a later one names known columns
    return 0 if best is None else best


def _looks_like_header(cells: Sequence[Cell]) -> bool:
    if not cells:
        return False
    texts = [str(c).strip() for c in cells]
    distinct = len(set(texts)) / len(texts)
    text_share = sum(1 for t in texts if not _is_number(t)) / len(texts)
    return distinct >= _MIN_DISTINCT and text_share >= _MIN_TEXT


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
