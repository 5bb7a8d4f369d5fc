"""The plain fast path of ``xlsx_extent``: a chunk's cell references read at once with numpy (pure).

Excel, openpyxl and xlsxwriter write every cell as ``<c r="B7" ...>`` inside ``<row r="7" ...>``.
A chunk spelt only that way is measured without a regex: one vectorized pass finds every ``<``
followed by ``b``, ``c``, ``r`` or ``s`` (cell and row tags among them), a 24-byte window after each
is gathered, and the letters and digits of each reference are counted in its window. The largest
column and row then come from big-endian keys of the letters and of the digits: with no leading
zero, a longer name or number is a larger key, so the largest key is the largest reference.

Anything else in a chunk (a ``:c`` or ``:row`` that may be a namespace prefix, a ``<c`` or ``<row``
tag whose first attribute is not ``r``, a reference in lower case, with ``$``, with more than 3
letters or 8 digits, with a leading zero, or without its closing quote) makes ``measure_plain``
return None, and the caller reads that chunk with its exact regex paths. Memory: the windows of at
most BATCH tags at a time (about 5 MiB with the temporaries), whatever the chunk holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

WINDOW = 24
"""Bytes read after each ``<``: ``row r="`` or ``c r="``, then a reference of up to 16 bytes."""
BATCH = 32_768
"""Tags measured at once (a 1 MiB chunk of a typical sheet holds about 31,000)."""
_REFERENCE = 16
_MAX_LETTERS = 3  # XFD, the last column Excel writes; longer names take the regex path
_MAX_DIGITS = 8  # 1,048,576 is Excel's last row
_CELL_HEAD = int.from_bytes(b'c r="', "little")
_ROW_HEAD = int.from_bytes(b'row r="', "little")
_ROW_NAME = int.from_bytes(b"row", "little")
_QUOTE, _ZERO, _LT, _COLON = b'"0<:'
_POSITIONS = np.arange(_REFERENCE)

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
        self._open = np.zeros(0, np.bool_)
        self._named = np.zeros(0, np.bool_)

    def measure(self, head: bytes, tail: bytes | memoryview) -> PlainExtent | None:
        """The cells of ``head + tail`` when every cell and row tag in it is plain, else None."""
        size = self._load(head, tail)
        if size < 2 or self._may_be_prefixed(size):
            return None if size else PlainExtent()
        return self._measure_loaded(size)

    def _load(self, head: bytes, tail: bytes | memoryview) -> int:
        """Copies ``head + tail`` into the text buffer, WINDOW zeros after it (they match nothing)."""
        size = len(head) + len(tail)
        if len(self._text) < size + WINDOW:
            capacity = 1 << (size + WINDOW - 1).bit_length()
            self._text = np.zeros(capacity, np.uint8)
            self._open, self._named = np.zeros(capacity, np.bool_), np.zeros(capacity, np.bool_)
        self._text[: len(head)] = np.frombuffer(head, np.uint8)
        self._text[len(head) : size] = np.frombuffer(tail, np.uint8)
        self._text[size : size + WINDOW] = 0
        return size

    def _measure_loaded(self, size: int) -> PlainExtent | None:
        text = self._text
        opened, named = self._open[: size - 1], self._named[: size - 1]
        np.equal(text[: size - 1], _LT, out=opened)
        # b, c, r and s are the bytes x with x | 0x11 == 0x73: one comparison finds <c and <row both.
        as_bytes = named.view(np.uint8)
        np.equal(np.bitwise_or(text[1:size], 0x11, out=as_bytes), 0x73, out=named)
        tags = np.flatnonzero(np.logical_and(opened, named, out=opened))
        windows = np.ndarray((size,), dtype=f"V{WINDOW}", buffer=text, strides=(1,))
        total = PlainExtent()
        for start in range(0, len(tags), BATCH):
            gathered = windows[tags[start : start + BATCH] + 1].view(np.uint8).reshape(-1, WINDOW)
            part = _measure_tags(gathered)
            if part is None:
                return None
            total = total.add(part)
        return total

    def _may_be_prefixed(self, size: int) -> bool:
        """Whether the text holds ``:c`` or ``:row``, as ``xlsx_extent._is_prefixed`` asks."""
        colons = np.equal(self._text[:size], _COLON, out=self._open[:size])
        if not colons.any():
            return False
        after = np.flatnonzero(colons) + 1
        raw = self._text
        return bool(
            (raw[after] == ord("c")).any()
            or ((raw[after] == ord("r")) & (raw[after + 1] == ord("o")) & (raw[after + 2] == ord("w"))).any()
        )


def _measure_tags(windows: Bytes) -> PlainExtent | None:
    """The cells and the largest references of the tags whose windows (the bytes after ``<``) these are."""
    head = windows.view("<u8")[:, 0]
    cells = windows[:, 0] == ord("c")  # every <c: a cell, or a <col>, <cfRule>... that is not plain
    references = (head & 0xFF_FFFF_FFFF) == _CELL_HEAD
    row_tags = (head & 0xFF_FFFF) == _ROW_NAME
    row_references = (head & 0xFF_FFFF_FFFF_FFFF) == _ROW_HEAD
    count = int(np.count_nonzero(cells))
    if np.count_nonzero(references) != count or np.count_nonzero(row_tags) != np.count_nonzero(
        row_references
    ):
        return None
    found = _largest_references(windows[references, 5 : 5 + _REFERENCE], (1, _MAX_LETTERS))
    rows = _largest_references(windows[row_references, 7 : 7 + _REFERENCE], (0, 0))
    if found is None or rows is None:
        return None
    return PlainExtent(count, max(found[1], rows[1]), found[0])


def _largest_references(refs: Bytes, letters_allowed: tuple[int, int]) -> tuple[int, int] | None:
    """The largest column and row named in ``refs`` (one reference and its quote per line), or None."""
    if not len(refs):
        return 0, 0
    upper = (refs - ord("A")) < 26  # uint8 arithmetic wraps: only A-Z are below 26
    digit = (refs - ord("0")) < 10
    letters = np.argmin(upper, axis=1)  # leading capitals (a line of 16 gives 0: refused below)
    end = np.argmin(digit | (_POSITIONS < letters[:, None]), axis=1)  # then the digits
    digits = end - letters
    lines = np.arange(len(refs))
    plain = (
        (letters >= letters_allowed[0])
        & (letters <= letters_allowed[1])
        & (digits >= 1)
        & (digits <= _MAX_DIGITS)
        & (refs[lines, end] == _QUOTE)
        & (refs[lines, letters] != _ZERO)
    )
    if not plain.all():
        return None
    high, low = refs.view(">u8").T
    letter_bits, digit_bits = 8 * letters.astype(np.uint64), 8 * digits.astype(np.uint64)
    column_keys = high >> (64 - letter_bits)  # the letters, right-aligned
    row_keys = ((high << letter_bits) | (low >> (64 - letter_bits))) >> (64 - digit_bits)
    column = _key_bytes(column_keys)
    return (column_number(column) if column else 0), int(_key_bytes(row_keys))


def _key_bytes(keys: npt.NDArray[np.uint64]) -> bytes:
    return int(keys.max()).to_bytes(8, "big").lstrip(b"\0")


def column_number(letters: bytes) -> int:
    """``A`` → 1, ``Z`` → 26, ``AA`` → 27 (case-insensitive)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n
