"""The vectorized cell-extent scan against the regex scan it speeds up: the same box for every sheet.

Hypothesis writes sheet XML from a cell model (plain references, lower case, ``$``, four-letter
columns, huge and zero-padded rows, rows and cells without ``r``, ``r`` not first, prefixed tags,
``<col>`` and ``<mergeCell>`` tags, stray bytes) and cuts it into chunks at random places. Each
sheet is scanned by ``CellExtent`` and by ``RegexExtent``, the scan as it was before
``xlsx_plain``: every chunk read by the regex paths, fed by the original carry logic. Every count
must agree. On sheets whose cells all carry an ``r`` without ``$``, both must also agree with a
regex over the whole text, which knows nothing of chunks.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpulse.parse.xlsx_extent import MAX_CARRY, CellExtent, column_letters, column_number

HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.'
    b'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships"><dimension ref="A1:Y9"/><sheetData>'
)
TAIL = b'</sheetData><mergeCells count="1"><mergeCell ref="A1:B2"/></mergeCells></worksheet>'


class RegexExtent(CellExtent):
    """The scan before the vectorized path: the original ``feed``, every chunk read by the regexes."""

    def feed(self, data: bytes) -> None:
        text = self._carry + data
        cut = text.rfind(b">") + 1
        body, carry = text[:cut], text[cut:]
        if len(carry) > MAX_CARRY:
            start = carry.rfind(b"<")
            carry = carry[start:] if start >= 0 else b""
            if len(carry) > MAX_CARRY:
                raise ValueError(f"an XML tag longer than {MAX_CARRY:,} bytes")
        self._carry = carry
        if body:
            self._scan_by_regex(body)

    def finish(self) -> None:
        if self._carry:
            self._scan_by_regex(self._carry)
        self._carry = b""


def _reference(column: int, row: int, spelling: str) -> bytes:
    letters = column_letters(column)
    if spelling == "lower":
        return f"{letters.lower()}{row}".encode()
    if spelling == "dollar":
        return f"${letters}${row}".encode()
    if spelling == "zeros":  # a longer number than the larger rows beside it: its key is larger
        return f"{letters}000000{row}".encode()
    return f"{letters}{row}".encode()


PLAIN = ["plain", "plain", "empty"]
HOSTILE = ["lower", "dollar", "zeros", "no_r", "r_second", "prefixed"]
VALUES = [b"<v>1</v>", b"<v>12.5</v>", b'<is><t>1E5 "x" RC</t></is>', b"<f>A1:B2</f>", b"<f>A1:c2</f>"]


@st.composite
def cells(draw: st.DrawFn, row: int, odds: int) -> bytes:
    """A cell in row ``row``, of a hostile spelling once in ``odds`` cells (0: never)."""
    column = draw(st.one_of(st.integers(1, 30), st.integers(1, 20_000)))
    near, far = st.integers(row, row + 100), st.integers(1, 10**10)
    cell_row = draw(st.one_of(st.just(row), st.just(row), near, far))
    hostile = odds > 0 and draw(st.integers(1, odds)) == 1
    spelling = draw(st.sampled_from(HOSTILE if hostile else PLAIN))
    ref = _reference(column, cell_row, spelling)
    value = draw(st.sampled_from(VALUES if hostile else VALUES[:-1]))
    if spelling == "no_r":
        return b'<c t="n">' + value + b"</c>"
    if spelling == "r_second":
        return b'<c s="1" r="' + ref + b'">' + value + b"</c>"
    if spelling == "prefixed":
        return b'<x:c r="' + ref + b'"><x:v>1</x:v></x:c>'
    if spelling == "empty":
        return b'<c r="' + ref + b'" s="2"/>'
    return b'<c r="' + ref + b'" t="n">' + value + b"</c>"


@st.composite
def rows(draw: st.DrawFn, row: int, odds: int) -> bytes:
    """A row tag and its cells, a hostile spelling of the tag once in ``odds`` rows (0: never)."""
    hostile = odds > 0 and draw(st.integers(1, odds)) == 1
    kind = draw(st.sampled_from(["no_r", "r_second", "zeros", "prefixed", "huge"] if hostile else ["plain"]))
    number = draw(st.integers(10**7, 10**13)) if kind == "huge" else row
    opening = {
        "no_r": b'<row spans="1:3">',
        "r_second": b'<row spans="1:3" r="%d">' % number,
        "zeros": b'<row r="0%d">' % number,
        "prefixed": b'<x:row r="%d">' % number,
    }.get(kind, b'<row r="%d" spans="1:3">' % number)
    body = b"".join(draw(st.lists(cells(row, odds), max_size=6)))
    return opening + body + (b"</x:row>" if kind == "prefixed" else b"</row>")


@st.composite
def sheets(draw: st.DrawFn, noise: bool = True) -> bytes:
    """Plain sheets, plain ones with a hostile cell or row here and there, or every spelling mixed."""
    count, odds = draw(st.integers(0, 40)), draw(st.sampled_from([0, 60, 15, 3]))
    parts = [draw(rows(r, odds)) for r in range(1, count + 1)]
    tags = [b'<cols><col min="1" max="3" width="9"/></cols>', b"<rowBreaks/>", b"<c", b":ro"]
    extras = st.one_of(st.sampled_from(tags), st.binary(max_size=12)) if noise else st.sampled_from(tags[:2])
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), draw(extras))
    return HEAD + b"".join(parts) + TAIL


def _cuts(size: int) -> st.SearchStrategy[list[int]]:
    """Up to 8 chunk ends anywhere in the text (an empty chunk included)."""
    return st.lists(st.integers(0, size), max_size=8).map(sorted)


def _scan(extent: CellExtent, xml: bytes, cuts: list[int]) -> tuple[int, ...]:
    for start, end in zip([0, *cuts], [*cuts, len(xml)], strict=True):
        extent.feed(xml[start:end])
    extent.finish()
    fields = (extent.max_row, extent.max_column, extent.implicit_rows, extent.implicit_columns)
    return (*fields, extent.cells, extent.rows, extent.columns, extent.grid)


def _plain_sheet(n_rows: int, n_columns: int) -> list[bytes]:
    return [
        b'<row r="%d" spans="1:%d">' % (r, n_columns)
        + b"".join(
            b'<c r="%s%d" t="n"><v>%d</v></c>' % (column_letters(c).encode(), r, c)
            for c in range(1, n_columns + 1)
        )
        + b"</row>"
        for r in range(1, n_rows + 1)
    ]


_WHOLE_CELL = re.compile(rb'<(?:x:)?c [^>]*?r="([A-Za-z]+)([0-9]+)"')
_WHOLE_ROW = re.compile(rb'<(?:x:)?row [^>]*?r="([0-9]+)"')


def _whole_text_box(xml: bytes) -> tuple[int, int]:
    """Rows and columns from every reference in the text at once (cells with r, no $, only)."""
    refs = _WHOLE_CELL.findall(xml)
    rows = [int(r) for r in _WHOLE_ROW.findall(xml)] + [int(r) for _, r in refs]
    return max(rows, default=0), max((column_number(c) for c, _ in refs), default=0)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_sheet_cut_anywhere_gets_the_regex_scans_box(data: st.DataObject) -> None:
    xml = data.draw(sheets())
    cuts = data.draw(_cuts(len(xml)))
    assert _scan(CellExtent(), xml, cuts) == _scan(RegexExtent(), xml, cuts)


FAR_CELLS = [
    b'<c r="ZZ1000000"><v>2</v></c>',
    b'<c r="XFD5"/>',
    b'<c r="XFD99999999"/>',
    b'<c r="B123456789"/>',
    b'<c r="AAAA5"/>',
    b'<c r="zz1000000"/>',
    b'<c r="A00000007"/><c r="B900"/>',
    b'<c s="1" r="ZZ1000000"/>',
    b'<x:c r="ZZ1000000"/>',
    b'<c r="A3"/>',
    b'<c r="$ZZ$1000000"/>',
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 599), st.sampled_from(FAR_CELLS), st.lists(st.integers(1, 60_000), max_size=6))
def test_a_far_cell_hidden_in_a_plain_sheet_is_found_wherever_the_chunks_end(
    row: int, far: bytes, cuts: list[int]
) -> None:
    sheet_rows = _plain_sheet(600, 12)
    sheet_rows[row] = sheet_rows[row].replace(b"</row>", far + b"</row>")
    xml = HEAD + b"".join(sheet_rows) + TAIL
    cuts = sorted(c % len(xml) for c in cuts)
    new, old = _scan(CellExtent(), xml, cuts), _scan(RegexExtent(), xml, cuts)
    assert new == old
    if b"$" not in far:  # a $ reference in a chunk of plain tags is not read by either (as before)
        assert (new[5], new[6]) == _whole_text_box(xml)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_sheets_whose_cells_all_carry_r_get_the_whole_text_box(data: st.DataObject) -> None:
    xml = data.draw(sheets(noise=False))
    if b"$" in xml or re.search(rb"<(?:x:)?c(?! r=| s=\"1\" r=)[ >/]", xml) or b'<row spans="1:3">' in xml:
        return  # a cell without r, or a $: the two scans read those by the regex paths' rules alone
    cuts = data.draw(_cuts(len(xml)))
    assert _scan(CellExtent(), xml, cuts)[5:7] == _whole_text_box(xml)


def test_a_megabyte_chunk_of_a_plain_sheet_takes_the_vectorized_path() -> None:
    """The speed-up is real only if a typical chunk does not fall back to the regexes."""
    body = b"".join(_plain_sheet(3000, 25))
    extent = CellExtent()
    extent._scan_by_regex = None  # type: ignore[assignment,method-assign]  # any fallback raises
    extent.feed(body)
    assert (extent.max_row, extent.max_column, extent.cells) == (3000, 25, 75_000)
