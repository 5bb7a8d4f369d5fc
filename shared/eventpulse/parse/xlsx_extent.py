"""The cell extent of a worksheet's XML, scanned chunk by chunk without parsing it (pure).

calamine (under fastexcel) allocates the sheet as a dense grid from its first to its last cell: a
300-byte sheet holding ``A1`` and ``ZZ1000000`` asks for 22 GB. The grid's size is what bounds the
decode's memory, so this scan measures it: rows × columns of the bounding box of every cell.

Three paths, each chunk taking the first that fits. Plain chunks (Excel, openpyxl and xlsxwriter
write ``<c r="A1" ...>`` inside ``<row r="1" ...>``, references in capitals) are read vectorized,
every reference at once (``xlsx_plain``). A chunk that is not quite plain but still spells every
tag ``<c r="`` and ``<row r="`` (lower-case references, a ``$``, long names) takes the regex fast
path: the row numbers of ``<row>`` tags are read, and one regex search looks for a cell beyond the
box known so far (a wider column, or a row below the last ``<row>``); only a chunk with such a cell
is read cell by cell. Other spellings (prefixed tags, ``r`` not first, cells without ``r``) take the
slow path: every cell's reference is read, and a cell without one counts as the next in its row.
The three give the same box wherever more than one applies (tests/unit/test_xlsx_extent_differential.py).
"""

from __future__ import annotations

import re

from eventpulse.parse.xlsx_plain import PlainScanner, column_number

__all__ = ["MAX_CARRY", "CellExtent", "column_letters", "column_number"]

MAX_CARRY = 1024**2
"""Longest unfinished tag carried to the next chunk; longer is no spreadsheet (a cell holds 32,767 chars)."""

_FAST_CELL = re.compile(rb'<c r="([A-Za-z]+)([0-9]+)"')
_FAST_ROW = re.compile(rb'<row r="([0-9]+)"')
_TAG = rb"<(?:[A-Za-z_][\w.-]*:)?"
_ANY_CELL = re.compile(_TAG + rb'c\s[^>]*?(?<=\s)r="\$?([A-Za-z]+)\$?([0-9]+)"')
_ANY_ROW = re.compile(_TAG + rb'row\s[^>]*?(?<=\s)r="([0-9]+)"')
_CELL_TAG = re.compile(_TAG + rb"c[\s>/]")
_ROW_TAG = re.compile(_TAG + rb"row[\s>/]")


def column_letters(n: int) -> str:
    out = ""
    while n > 0:
        n, rest = divmod(n - 1, 26)
        out = chr(65 + rest) + out
    return out


def _digits_above(n: int) -> bytes:
    """A regex matching the decimal numbers (no leading zeros) greater than ``n``."""
    if n <= 0:
        return rb"[1-9][0-9]*"
    s = str(n)
    alts = [rb"[1-9][0-9]{%d,}" % len(s)]
    for i, d in enumerate(s):
        if d != "9":
            alts.append(s[:i].encode() + b"[%d-9]" % (int(d) + 1) + rb"[0-9]{%d}" % (len(s) - i - 1))
    return b"(?:" + b"|".join(alts) + b")"


def _letters_above(n: int) -> bytes:
    """A regex matching the upper-case column names after column ``n`` (and any lower-case name)."""
    lower = rb"[A-Za-z]*[a-z][A-Za-z]*"
    if n <= 0:
        return rb"[A-Za-z]+"
    s = column_letters(n)
    alts = [lower, rb"[A-Z]{%d,}" % (len(s) + 1)]
    for i, ch in enumerate(s):
        if ch != "Z":
            alts.append(s[:i].encode() + b"[%c-Z]" % (ord(ch) + 1) + rb"[A-Z]{%d}" % (len(s) - i - 1))
    return b"(?:" + b"|".join(alts) + b")"


class CellExtent:
    """Feed a sheet's XML in chunks; ``rows`` × ``columns`` is then the grid a reader would allocate."""

    def __init__(self) -> None:
        self.max_row = 0
        self.max_column = 0
        self.implicit_rows = 0  # <row> tags without r: each is the next row
        self.implicit_columns = 0  # most cells without r in one row
        self.cells = 0
        self._carry = b""
        self._plain = PlainScanner()
        self._beyond: re.Pattern[bytes] | None = None
        self._beyond_box = (-1, -1)

    @property
    def rows(self) -> int:
        return self.max_row + self.implicit_rows

    @property
    def columns(self) -> int:
        return self.max_column + self.implicit_columns

    @property
    def grid(self) -> int:
        return self.rows * self.columns if self.cells else 0

    def feed(self, data: bytes) -> None:
        """Scan ``data``; a tag cut at the chunk's end waits for the next chunk."""
        end = data.rfind(b">") + 1  # the carry holds no ">": the body ends in data, if anywhere
        head = self._carry if end else b""
        carry = data[end:] if end else self._carry + data
        if len(carry) > MAX_CARRY:  # text without tags: keep only an unfinished tag, if any
            start = carry.rfind(b"<")
            carry = carry[start:] if start >= 0 else b""
            if len(carry) > MAX_CARRY:
                raise ValueError(f"an XML tag longer than {MAX_CARRY:,} bytes")
        self._carry = carry
        self._scan(head, data, end)

    def finish(self) -> None:
        self._scan(self._carry, b"", 0)
        self._carry = b""

    def _scan(self, head: bytes, data: bytes, end: int) -> None:
        """Scans the body ``head + data[:end]``, given in parts so that it is copied once, not twice."""
        if not head and not end:
            return
        plain = self._plain.measure(head, data, end)
        if plain is None:
            self._scan_by_regex(head + data[:end])
            return
        self.cells += plain.cells
        self.max_row = max(self.max_row, plain.max_row)
        self.max_column = max(self.max_column, plain.max_column)

    def _scan_by_regex(self, body: bytes) -> None:
        # Upper bounds: "<c" also counts <col>, <cfRule>...; a chunk holding those takes the slow path.
        cell_tags = body.count(b"<c")
        rows = _FAST_ROW.findall(body)
        plain = body.count(b'<c r="') == cell_tags and len(rows) == body.count(b"<row")
        if not plain or _is_prefixed(body):
            self._scan_slowly(body)
            return
        self.cells += cell_tags
        self.max_row = max([self.max_row, *map(int, rows)])
        if self._beyond_search(body):
            self._read_cells(_FAST_CELL.findall(body))

    def _beyond_search(self, body: bytes) -> bool:
        box = (self.max_row, self.max_column)
        if self._beyond is None or self._beyond_box != box:
            rows, columns = _digits_above(box[0]), _letters_above(box[1])
            self._beyond = re.compile(rb'<c r="(?:' + columns + rb"[0-9]|[A-Za-z]+0*" + rows + rb'")')
            self._beyond_box = box
        return self._beyond.search(body) is not None

    def _read_cells(self, refs: list[tuple[bytes, bytes]]) -> None:
        if refs:
            self.max_column = max(self.max_column, max(column_number(c) for c, _ in refs))
            self.max_row = max(self.max_row, max(int(r) for _, r in refs))

    def _scan_slowly(self, body: bytes) -> None:
        has_refs = b' r="' in body
        refs = _ANY_CELL.findall(body) if has_refs else []
        rows = _ANY_ROW.findall(body) if has_refs else []
        prefixed = _is_prefixed(body)
        cell_tags = len(_CELL_TAG.findall(body)) if prefixed else _count_cells(body)
        self.cells += cell_tags
        self._read_cells(refs)
        self.max_row = max([self.max_row, *map(int, rows)])
        row_tags = len(_ROW_TAG.findall(body)) if prefixed else body.count(b"<row ") + body.count(b"<row>")
        self.implicit_rows += max(0, row_tags - len(rows))
        if cell_tags > len(refs):  # cells placed by their order in the row: the longest row bounds them
            if prefixed:
                longest = max(len(_CELL_TAG.findall(row)) for row in _ROW_TAG.split(body))
            else:
                longest = max(_count_cells(row) for row in body.split(b"<row"))
            self.implicit_columns = max(self.implicit_columns, longest)


def _count_cells(body: bytes) -> int:
    return body.count(b"<c ") + body.count(b"<c>") + body.count(b"<c/>")


def _is_prefixed(body: bytes) -> bool:
    """Whether tags may be spelt with a namespace prefix (``<x:c>``): counting plain tags misses them."""
    return b":c" in body or b":row" in body
