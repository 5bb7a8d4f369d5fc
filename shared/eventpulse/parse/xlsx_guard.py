"""Refuse a hostile workbook before fastexcel/calamine decodes it (docs/RELIABILITY.md).

calamine holds the whole sheet in memory as a dense grid and reads every XML part it needs in
full, so a small .xlsx can ask for gigabytes. Before decoding, the zip directory is checked (entry
count, declared sizes, compression ratio: nothing inflated), then each XML part is inflated as a
stream, never held whole: its real size is counted (a directory may lie), its prolog is parsed for a
DTD (custom entities, "billion laughs": refused at once) and a sheet's cell grid is measured
(``xlsx_extent``). Memory: one 1 MiB chunk at a time, plus the scan's buffers (a few MiB);
time: bounded by the expanded-size limit (about 0.25 s for a 70 MB sheet, of which zlib is half).
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

from eventpulse.errors import ReadError
from eventpulse.parse.limits import MiB, ReadLimits, build_limit_error, describe_bytes
from eventpulse.parse.xlsx_extent import CellExtent

CHUNK = MiB
RATIO_FLOOR = 4 * MiB
"""Parts expanding to less than this are not held to the ratio limit (small repetitive parts are harmless)."""
PROLOG_MAX = MiB
"""The prolog (before the root element) of an XML part may be at most this long."""
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_XML_SUFFIXES = (".xml", ".rels", ".vml")


def ensure_safe_workbook(path: Path, label: str, limits: ReadLimits) -> None:
    """Raise ReadError when the workbook is corrupt or would expand past ``limits``."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise _corrupt(label, f"it is not a complete zip archive ({exc})") from exc
    if len(infos) > limits.xlsx_max_entries:
        raise build_limit_error(
            label, "zip entry count", f"{len(infos):,} entries", f"{limits.xlsx_max_entries:,}", None
        )
    parts = [i for i in infos if i.filename.lower().endswith(_XML_SUFFIXES)]
    for info in parts:
        _ensure_declared_size(info, label, limits)
    with path.open("rb") as fh:
        for info in parts:
            _scan_part(fh, info, label, limits)


def _ensure_declared_size(info: zipfile.ZipInfo, label: str, limits: ReadLimits) -> None:
    if info.file_size > limits.xlsx_max_expanded_bytes:
        raise build_limit_error(
            label,
            "expanded XML part size",
            f"{info.filename} expands to {describe_bytes(info.file_size)}",
            describe_bytes(limits.xlsx_max_expanded_bytes),
            "xlsx_max_expanded_bytes",
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size >= RATIO_FLOOR and ratio > limits.xlsx_max_compression_ratio:
        raise build_limit_error(
            label,
            "compression ratio",
            f"{info.filename} expands {ratio:,.0f} times ({describe_bytes(info.compress_size)} to "
            f"{describe_bytes(info.file_size)})",
            f"{limits.xlsx_max_compression_ratio:,.0f} times",
            "xlsx_max_compression_ratio",
        )


def _scan_part(fh: BinaryIO, info: zipfile.ZipInfo, label: str, limits: ReadLimits) -> None:
    prolog = _Prolog(label, info.filename)
    extent = CellExtent()
    size = 0
    try:
        for chunk in _inflate(fh, info, label):
            size += len(chunk)
            if size > limits.xlsx_max_expanded_bytes:
                raise build_limit_error(
                    label,
                    "expanded XML part size",
                    f"{info.filename} expands past {describe_bytes(size)} (its zip entry declares "
                    f"{describe_bytes(info.file_size)})",
                    describe_bytes(limits.xlsx_max_expanded_bytes),
                    "xlsx_max_expanded_bytes",
                )
            prolog.feed(chunk)
            extent.feed(chunk)
        extent.finish()
    except ValueError as exc:  # an unfinished tag longer than any spreadsheet writes
        raise _corrupt(label, f"{info.filename} is not a spreadsheet part: {exc}") from exc
    if size != info.file_size:
        raise _corrupt(
            label, f"{info.filename} expands to {size:,} bytes, its zip entry says {info.file_size:,}"
        )
    if extent.grid > limits.xlsx_max_cells:
        raise build_limit_error(
            label,
            "sheet cell count",
            f"{info.filename} spans {extent.rows:,} rows × {extent.columns:,} columns = {extent.grid:,} "
            "cells (a reader holds every cell from the first to the last)",
            f"{limits.xlsx_max_cells:,} cells",
            "xlsx_max_cells",
        )


def _inflate(fh: BinaryIO, info: zipfile.ZipInfo, label: str) -> Iterator[bytes]:
    """The entry's bytes in chunks of at most CHUNK, from its raw compressed data."""
    if info.flag_bits & 0x1:
        raise _corrupt(label, f"{info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _corrupt(label, f"{info.filename} uses zip compression method {info.compress_type}")
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise _corrupt(label, f"the zip entry of {info.filename} is damaged")
    _, name_len, extra_len = _LOCAL_HEADER.unpack(header)
    fh.seek(name_len + extra_len, 1)
    left = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    while left > 0:
        raw = fh.read(min(CHUNK, left))
        if not raw:
            raise _corrupt(label, f"the archive ends inside {info.filename} (the file is truncated)")
        left -= len(raw)
        if inflater is None:
            yield raw
            continue
        try:
            while raw:
                out = inflater.decompress(raw, CHUNK)
                raw = inflater.unconsumed_tail
                if out:
                    yield out
        except zlib.error as exc:
            raise _corrupt(label, f"{info.filename} is damaged ({exc})") from exc
    if inflater is not None:
        rest = inflater.flush()
        if rest:
            yield rest
        if not inflater.eof:
            raise _corrupt(label, f"the compressed data of {info.filename} is cut short")


class _RootReached(Exception):
    pass


class _Prolog:
    """Parses a part's prolog with expat, stopping at its root element: a DTD is refused before use."""

    def __init__(self, label: str, part: str) -> None:
        self.label, self.part, self.seen, self.done = label, part, 0, False
        self.parser = expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._refuse_dtd
        self.parser.EntityDeclHandler = self._refuse_dtd
        self.parser.StartElementHandler = self._root

    def feed(self, chunk: bytes) -> None:
        if self.done:
            return
        self.seen += len(chunk)
        try:
            self.parser.Parse(chunk, False)
        except _RootReached:
            self.done = True
            return
        except expat.ExpatError as exc:
            raise _corrupt(self.label, f"{self.part} is not well-formed XML ({exc})") from exc
        if self.seen > PROLOG_MAX:
            raise _corrupt(self.label, f"{self.part} has no root element in its first {PROLOG_MAX:,} bytes")

    def _refuse_dtd(self, *_: object) -> None:
        raise ReadError(
            f"file {self.label!r} declares a DTD or XML entities in {self.part}; EventPulse refuses them "
            "(entities can expand a small file without bound, the 'billion laughs' attack) and did not "
            "decode it",
            hint="spreadsheet tools never write a DTD: save the workbook again from Excel or LibreOffice",
            details={"limit": "xml_dtd", "part": self.part},
        )

    def _root(self, *_: object) -> None:
        raise _RootReached


def _corrupt(label: str, why: str) -> ReadError:
    return ReadError(
        f"file {label!r} is not a readable .xlsx workbook: {why}",
        hint="the file is damaged or truncated: open it in a spreadsheet tool, save it as .xlsx, resend it",
    )
