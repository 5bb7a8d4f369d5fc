"""Hostile files built in the tests: workbook bombs, a billion-laughs workbook, lying or cut archives.

Each is a valid zip (unless it is meant to be cut) with the parts calamine needs, written with
``zipfile`` so the sheet XML is streamed into the archive and never held whole in memory.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS_NS = b"http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_NS = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
    b'"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
    b'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
    b'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="'
    + _RELS_NS
    + b'"><Relationship Id="rId1" '
    b'Type="' + _DOC_NS + b'/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<workbook xmlns="' + NS + b'" xmlns:r="' + _DOC_NS + b'">'
    b'<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="'
    + _RELS_NS
    + b'"><Relationship Id="rId1" '
    b'Type="' + _DOC_NS + b'/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET = "xl/worksheets/sheet1.xml"


def write_workbook(path: Path, sheet_xml: Iterable[bytes], *, level: int = 9, zip64: bool = True) -> Path:
    """A one-sheet workbook whose sheet part is the concatenation of ``sheet_xml``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", _TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open(SHEET, "w", force_zip64=zip64) as part:
            for chunk in sheet_xml:
                part.write(chunk)
    return path


def sheet(rows: Iterable[bytes], prolog: bytes = b"") -> Iterable[bytes]:
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n' + prolog + b'<worksheet xmlns="' + NS + b'"><sheetData>'
    yield from rows
    yield b"</sheetData></worksheet>"


def header_row(columns: list[str]) -> bytes:
    cells = b"".join(
        b'<c r="%s1" t="inlineStr"><is><t>%s</t></is></c>' % (_col(i), c.encode())
        for i, c in enumerate(columns)
    )
    return b'<row r="1">' + cells + b"</row>"


def _col(i: int) -> bytes:
    out = b""
    i += 1
    while i:
        i, rest = divmod(i - 1, 26)
        out = bytes([65 + rest]) + out
    return out


def repetitive_bomb(path: Path, *, expanded_mib: int, columns: list[str]) -> Path:
    """A workbook whose sheet is ``expanded_mib`` MiB of identical rows (deflate shrinks it ~1000 times)."""
    row = b"<row>" + b"<c><v>1</v></c>" * len(columns) + b"</row>"
    block = row * ((1 << 20) // len(row))

    def rows() -> Iterable[bytes]:
        yield header_row(columns)
        for _ in range(expanded_mib):
            yield block

    return write_workbook(path, sheet(rows()))


def sparse_bomb(path: Path) -> Path:
    """Two cells, A1 and ZZ1000000: calamine would allocate the 702 × 1,000,000 grid between them."""
    rows = [
        b'<row r="1"><c r="A1"><v>1</v></c></row>',
        b'<row r="1000000"><c r="ZZ1000000"><v>2</v></c></row>',
    ]
    return write_workbook(path, sheet(rows))


def billion_laughs(path: Path, columns: list[str]) -> Path:
    """A sheet declaring nested entities: ``&lol9;`` would expand to 10^9 ``lol``s."""
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    prolog = b"<!DOCTYPE worksheet [" + entities + b"]>"
    rows = [header_row(columns), b'<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row>']
    return write_workbook(path, sheet(rows, prolog))


def understate_sizes(path: Path, part: str, declared: int) -> Path:
    """Rewrite ``part``'s uncompressed size in its local header and the central directory (a lying zip).

    The workbook must be written with ``zip64=False`` (4-byte sizes in both headers).
    """
    data = bytearray(path.read_bytes())
    name = part.encode()
    for signature, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        at = data.find(signature)
        while at >= 0:
            (name_len,) = struct.unpack_from("<H", data, at + name_len_at)
            if bytes(data[at + name_at : at + name_at + name_len]) == name:
                struct.pack_into("<I", data, at + size_at, declared)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    return path
