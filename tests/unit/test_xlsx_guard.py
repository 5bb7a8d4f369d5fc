"""Hostile containers refused before decoding (parse/xlsx_guard.py), on files built in the test."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from eventpulse.demo.generator import write_case
from eventpulse.errors import ReadError
from eventpulse.parse.limits import ReadLimits
from eventpulse.parse.xlsx_guard import ensure_safe_workbook
from tests.bombs import header_row, sheet, write_workbook

LIMITS = ReadLimits()


def _refusal(path: Path, limits: ReadLimits = LIMITS) -> ReadError:
    with pytest.raises(ReadError) as caught:
        ensure_safe_workbook(path, path.name, limits)
    return caught.value


def test_a_generated_workbook_passes(tmp_path: Path) -> None:
    path = write_case("edge_telemetry", "baseline", "xlsx", tmp_path, rows=50, seed=1)
    ensure_safe_workbook(path, path.name, LIMITS)


def test_a_stored_uncompressed_sheet_is_measured_too(tmp_path: Path) -> None:
    path = tmp_path / "stored.xlsx"
    rows = [header_row(["a", "b"])] + [
        b'<row r="%d"><c r="B%d"><v>1</v></c></row>' % (r, r) for r in range(2, 500)
    ]
    write_workbook(path, sheet(rows))
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "s.xlsx", "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info))
    ensure_safe_workbook(tmp_path / "s.xlsx", "s.xlsx", LIMITS)
    refused = _refusal(tmp_path / "s.xlsx", ReadLimits(xlsx_max_cells=100))
    assert "499 rows × 2 columns = 998 cells" in refused.message


def test_too_many_zip_entries_are_refused_from_the_directory(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "many.xlsx", sheet([header_row(["a"])]))
    with zipfile.ZipFile(path, "a") as archive:
        for i in range(30):
            archive.writestr(f"xl/media/junk{i}.bin", b"")
    refused = _refusal(path, ReadLimits(xlsx_max_entries=20))
    assert "zip entry count limit: 35 entries" in refused.message and "nothing can raise" in refused.hint


def test_a_dtd_in_any_part_is_refused(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "dtd.xlsx", sheet([header_row(["a"])]))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(
            "xl/styles.xml", b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.com/x"><x/>'
        )
    refused = _refusal(path)
    assert "declares a DTD or XML entities in xl/styles.xml" in refused.message


def test_an_unusual_compression_method_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bz.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"".join(sheet([header_row(["a"])])))
    assert "compression method 12" in _refusal(path).message


def test_a_part_that_is_not_xml_is_refused(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "bad.xlsx", sheet([header_row(["a"])]))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/sharedStrings.xml", b"\x00\x01 not xml at all")
    assert "xl/sharedStrings.xml is not well-formed XML" in _refusal(path).message


def test_bytes_that_are_no_zip_are_refused_as_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "no.xlsx"
    path.write_bytes(b"event_id,device_id\n1,2\n")
    refused = _refusal(path)
    assert "not a complete zip archive" in refused.message and "truncated" in refused.hint
