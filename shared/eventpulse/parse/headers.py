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
    """The 0-based index of the header among ``rows`` (the sheet's first rows, as text).

    A later row wins over the first only when it names more known columns than the first row, or
    when the first row is a title or blank (fewer than two cells) and the later row is the first
    header-like row of two cells or more. So a first row of two or more cells that is not
    header-like (numbers, repeated names) stays the header, and its error (a duplicate column
    name, a row with more fields) is reported as before.
    """
    probe = [[c for c in row if c not in (None, "")] for row in rows[:HEADER_PROBE_ROWS]]
    if not probe:
        return 0
    known = set(expected)
    matches = [_count_known(cells, known) if _looks_like_header(cells) else 0 for cells in probe]
    best = max(range(len(probe)), key=lambda i: (matches[i], -i))
    if matches[best] > matches[0]:
        return best
    if _is_wide(probe[0]):
        return 0
    return next((i for i, c in enumerate(probe) if _looks_like_header(c) and _is_wide(c)), 0)


def _count_known(cells: Sequence[Cell], known: set[str]) -> int:
    return len({normalize_column_name(str(c), 0) for c in cells} & known)


def _is_wide(cells: Sequence[Cell]) -> bool:
    return len(cells) >= 2


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
