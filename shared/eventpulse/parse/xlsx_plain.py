"""The plain fast path of ``xlsx_extent``: a chunk's cell references read at once with numpy (pure).

Excel, openpyxl and xlsxwriter write every cell as ``<c r="B7" ...>`` inside ``<row r="7" ...>``.
A chunk spelt only that way is measured without a regex, in a few passes over its bytes: one finds
every ``<`` followed by ``b``, ``c``, ``r`` or ``s`` (cell and row tags among them) and every
colon before such a byte (a possible ``:c`` or ``:row`` prefix); the 8 bytes after each ``<`` say
which tag it is; the 16 bytes after each ``<c r="`` and ``<row r="`` hold its reference, whose
letters and digits are counted. The largest column and row then come from big-endian keys of the
letters and of the digits: with no leading zero, a longer name or number is a larger key, so the
largest key is the largest reference. This replaced a regex searched at every cell (4× faster
guard on a 100k-row sheet, docs/BENCHMARKS.md).

Anything else in a chunk (a ``:c`` or ``:row`` that may be a namespace prefix, a ``<c`` or ``<row``
tag whose first attribute is not ``r``, a reference in lower case, with ``$``, with more than 3
letters or 8 digits, with a leading zero, or without its closing quote) makes ``measure`` return
None, and the caller reads that chunk with its exact regex paths. Memory: the chunk's text and two
flag arrays kept from chunk to chunk (3 bytes per byte of chunk), the tag positions (at most 4 bytes
per byte, for a chunk of nothing but ``<c``), and about 4 MiB of gathered bytes and temporaries
per BATCH tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

WINDOW = 24
"""Zero bytes after the text: the 16 bytes after ``<row r="`` at its very end stay inside the buffer."""
BATCH = 32_768
"""Tags measured at once (a 1 MiB chunk of a typical sheet holds about 31,000)."""
_REFERENCE = 16
_MAX_LETTERS = 3  # XFD, the last column Excel writes; longer names take the regex path
_MAX_DIGITS = 8  # 1,048,576 is Excel's last row
_CELL_HEAD = int.from_bytes(b'c r="', "little")
_ROW_HEAD = int.from_bytes(b'row r="', "little")
_ROW_NAME = int.from_bytes(b"row", "little")
_QUOTE, _ZERO, _LT, _COLON = b'"0<:'

Bytes = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PlainExtent:
    """What a plain chunk adds to the extent: its cell tags, its largest row and column numbers."""

    cells: int = 0
    max_row: int = 0
    max_column: int = 0

    def add(self, other: PlainExtent) -> PlainExtent:
        return PlainExtent(
            self.cells + other.cells,
            max(self.max_row, other.max_row),
            max(self.max_column, other.max_column),
        )


class PlainScanner:
    """Measures plain chunks one after another, in buffers kept from one chunk to the next.

    Fresh megabyte-sized temporaries for every chunk cost more in page faults than the scan itself
    (the allocator hands large blocks back to the system when they are freed), so the chunk's bytes
    and its per-byte flags live in arrays allocated once per part and grown when a chunk is larger.
    """

    def __init__(self) -> None:
        self._text = np.zeros(0, np.uint8)
        self._named = np.zeros(0, np.bool_)  # the byte after is b, c, r or s
        self._marked = np.zeros(0, np.bool_)  # a colon, then a "<", before such a byte

    def measure(self, head: bytes, data: bytes, end: int) -> PlainExtent | None:
        """The cells of ``head + data[:end]`` when every cell and row tag in it is plain, else None."""
        size = self._load(head, memoryview(data)[:end])
        if size < 2:
            return None if size else PlainExtent()
        text, named, marked = self._text, self._named[: size - 1], self._marked[: size - 1]
        # b, c, r and s are the bytes x with x | 0x11 == 0x73: one comparison finds <c and <row both.
        np.equal(np.bitwise_or(text[1:size], 0x11, out=named.view(np.uint8)), 0x73, out=named)
        np.logical_and(np.equal(text[: size - 1], _COLON, out=marked), named, out=marked)
        if marked.any() and _is_prefixed_at(text, np.flatnonzero(marked)):
            return None
        np.logical_and(np.equal(text[: size - 1], _LT, out=marked), named, out=marked)
        return _measure_tags(text, np.flatnonzero(marked))

    def _load(self, head: bytes, tail: memoryview) -> int:
        """Copies ``head + tail`` into the text buffer, WINDOW zeros after it (they match nothing)."""
        size = len(head) + len(tail)
        if len(self._text) < size + WINDOW:
            capacity = 1 << (size + WINDOW - 1).bit_length()
            self._text = np.zeros(capacity, np.uint8)
            self._named, self._marked = np.zeros(capacity, np.bool_), np.zeros(capacity, np.bool_)
        self._text[: len(head)] = np.frombuffer(head, np.uint8)
        self._text[len(head) : size] = np.frombuffer(tail, np.uint8)
        self._text[size : size + WINDOW] = 0
        return size


def _is_prefixed_at(text: Bytes, colons: npt.NDArray[np.intp]) -> bool:
    """Whether a colon at ``colons`` starts ``:c`` or ``:row``, as ``xlsx_extent._is_prefixed`` asks."""
    after = colons + 1
    return bool(
        (text[after] == ord("c")).any()
        or ((text[after] == ord("r")) & (text[after + 1] == ord("o")) & (text[after + 2] == ord("w"))).any()
    )


def _measure_tags(text: Bytes, tags: npt.NDArray[np.intp]) -> PlainExtent | None:
    """The cells and the largest references of the tags opening at ``tags``, BATCH at a time."""
    total = PlainExtent()
    for start in range(0, len(tags), BATCH):
        part = _measure_batch(text, tags[start : start + BATCH])
        if part is None:
            return None
        total = total.add(part)
    return total


def _measure_batch(text: Bytes, tags: npt.NDArray[np.intp]) -> PlainExtent | None:
    """The cells and the largest references of the tags that open at ``tags`` (``<`` positions)."""
    head = _windows(text, 8, "<u8")[tags + 1]  # the 8 bytes after "<"
    cells = (head & 0xFF) == ord("c")  # every <c: a cell, or a <col>, <cfRule>... that is not plain
    references = (head & 0xFF_FFFF_FFFF) == _CELL_HEAD
    row_tags = (head & 0xFF_FFFF) == _ROW_NAME
    row_references = (head & 0xFF_FFFF_FFFF_FFFF) == _ROW_HEAD
    count = int(np.count_nonzero(cells))
    if np.count_nonzero(references) != count or np.count_nonzero(row_tags) != np.count_nonzero(
        row_references
    ):
        return None
    refs = _windows(text, _REFERENCE, f"V{_REFERENCE}")
    found = _largest_references(_lines(refs[tags[references] + len(b'<c r="')]), _CELL_SHAPES)
    rows = _largest_references(_lines(refs[tags[row_references] + len(b'<row r="')]), _ROW_SHAPES)
    if found is None or rows is None:
        return None
    return PlainExtent(count, max(found[1], rows[1]), found[0])


def _windows(text: Bytes, width: int, dtype: str) -> npt.NDArray[Any]:
    """A view of ``text`` whose item i is the ``width`` bytes from i on (they overlap: no copy)."""
    return np.ndarray((len(text) - width + 1,), dtype=dtype, buffer=text, strides=(1,))


def _lines(windows: npt.NDArray[Any]) -> Bytes:
    return windows.view(np.uint8).reshape(-1, windows.dtype.itemsize)


def _largest_references(refs: Bytes, shapes: npt.NDArray[np.bool_]) -> tuple[int, int] | None:
    """The largest column and row named in ``refs`` (one reference and its quote per line), or None.

    ``shapes[16 * letters + end]`` says which counts of leading capitals and digits are plain.
    """
    if not len(refs):
        return 0, 0
    upper = np.subtract(refs, ord("A"))  # uint8 arithmetic wraps: only A-Z are below 26
    upper = np.less(upper, 26, out=upper.view(np.bool_))
    letters = np.argmin(upper, axis=1)  # leading capitals (a line of 16 gives 0: refused below)
    digit = np.subtract(refs, ord("0"))
    digit = np.less(digit, 10, out=digit.view(np.bool_))
    for n in range(_MAX_LETTERS):  # the digits run from the letters on: count the letters in it
        np.logical_or(digit[:, n], letters > n, out=digit[:, n])  # (more letters: not plain anyway)
    end = np.argmin(digit, axis=1)
    flat, starts = refs.reshape(-1), np.arange(0, refs.size, _REFERENCE)
    plain = (
        shapes[letters * _REFERENCE + end]
        & (flat[starts + end] == _QUOTE)
        & (flat[starts + letters] != _ZERO)
    )
    if not plain.all():
        return None
    high, low = refs.view(">u8").T
    letter_bits, digit_bits = 8 * letters.astype(np.uint64), 8 * (end - letters).astype(np.uint64)
    column_keys = high >> (64 - letter_bits)  # the letters, right-aligned
    row_keys = ((high << letter_bits) | (low >> (64 - letter_bits))) >> (64 - digit_bits)
    column = _key_bytes(column_keys)
    return (column_number(column) if column else 0), int(_key_bytes(row_keys))


def _shapes(letters: range) -> npt.NDArray[np.bool_]:
    """The plain (letters, end of digits) pairs, as a table indexed by ``16 * letters + end``."""
    table = np.zeros(_REFERENCE * _REFERENCE, np.bool_)
    for n in letters:
        table[_REFERENCE * n + n + 1 : _REFERENCE * n + n + _MAX_DIGITS + 1] = True
    return table


_CELL_SHAPES = _shapes(range(1, _MAX_LETTERS + 1))
_ROW_SHAPES = _shapes(range(1))


def _key_bytes(keys: npt.NDArray[np.uint64]) -> bytes:
    return int(keys.max()).to_bytes(8, "big").lstrip(b"\0")


def column_number(letters: bytes) -> int:
    """``A`` → 1, ``Z`` → 26, ``AA`` → 27 (case-insensitive)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n
