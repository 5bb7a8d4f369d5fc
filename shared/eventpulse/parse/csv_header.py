"""A CSV file's delimiter and header row from the start of its text (pure, no pyarrow).

Shared by the CSV reader and the fail-fast header check (``parse/header.py``), which runs in the
``signed_url`` function and must not pay pyarrow's import.
"""

from __future__ import annotations

import csv
import io

from eventpulse.errors import ReadError

EMPTY_HINT = "send a file with a header row and data rows"

_DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(lines: list[str]) -> str:
    """The candidate delimiter that splits the first lines into the same number (> 1) of fields."""
    best, best_score = ",", (0, 0)
    lines = _without_title_lines(lines)
    for delim in _DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for c in counts if c == counts[0])
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _without_title_lines(lines: list[str]) -> list[str]:
    """Drop leading lines that no candidate splits (a title above the header), keeping one line.

    The header's field count decides the delimiter (quoted newlines make later lines unreliable),
    so a title line with no delimiter in it must not stand in for the header.
    """
    start = 0
    while start < len(lines) - 1 and all(
        len(next(csv.reader([lines[start]], delimiter=d))) < 2 for d in _DELIMITERS
    ):
        start += 1
    return lines[start:]


def read_header(text: str, label: str) -> tuple[str, list[str]]:
    """The delimiter and the header row of a CSV file whose text begins with ``text``."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        raise ReadError(f"the file {label!r} is empty (no header)", hint=EMPTY_HINT)
    delimiter = sniff_delimiter(lines[:-1] if len(lines) > 1 else lines)
    return delimiter, next(csv.reader(io.StringIO(text), delimiter=delimiter))
