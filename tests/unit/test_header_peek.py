"""Reading a header from the first bytes of an upload, and handing on the very same bytes (pure)."""

from __future__ import annotations

import codecs
import hashlib
import io

import pytest

from eventpulse.errors import BadRequest, ReadError
from eventpulse.landing.peek import PrefixedStream, peek_header
from eventpulse.parse.header import (
    build_declared_header,
    is_header_complete,
    read_sample_header,
)


class Trickle(io.RawIOBase):
    """A body the client sent up to ``available``, then stalled; like a socket or a chunked body, a
    read of n bytes waits for all n, so asking for more than has arrived fails the test."""

    def __init__(self, data: bytes, available: int) -> None:
        self.data, self.pos, self.available = data, 0, available

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self.data) - self.pos)
        if self.pos + n > self.available:
            raise AssertionError("waited for bytes the client has not sent")
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def csv_complete(sample: bytes) -> bool:
    return is_header_complete(sample, "csv", None)


def test_peek_stops_at_the_first_newline_without_reading_what_has_not_arrived() -> None:
    body = b"id,price\n1,2\n3,4\n"
    stream = Trickle(body, available=len(b"id,price\n"))
    sample, at_end = peek_header(stream, csv_complete)  # type: ignore[arg-type]
    assert sample == b"id,price\n" and not at_end


def test_the_peeked_bytes_and_the_rest_are_the_original_stream_byte_for_byte() -> None:
    body = b"id,price\r\n" + b"".join(b"%d,%d.5\r\n" % (i, i) for i in range(50_000))
    stream = io.BytesIO(body)
    sample, _ = peek_header(stream, csv_complete)
    landed = PrefixedStream(sample, stream)
    copied = b"".join(iter(lambda: landed.read(7919), b""))
    assert hashlib.sha256(copied).hexdigest() == hashlib.sha256(body).hexdigest()


def test_a_quoted_newline_in_the_header_does_not_end_it() -> None:
    body = b'id,"flood\nzone",price\n1,A,2\n'
    sample, _ = peek_header(io.BytesIO(body), csv_complete)
    assert sample == b'id,"flood\nzone",price\n'
    header = read_sample_header(sample, "csv", "p.csv", declared_encoding=None, at_end=False)
    assert header.columns == ["id", "flood_zone", "price"] and header.complete


def test_a_file_without_a_newline_is_its_own_header_and_an_endless_first_line_is_refused() -> None:
    sample, at_end = peek_header(io.BytesIO(b"id,price"), csv_complete)
    assert (sample, at_end) == (b"id,price", True)
    with pytest.raises(BadRequest, match="no complete header line in the first 1 KiB") as refused:
        peek_header(io.BytesIO(b"x" * 5000 + b"\n"), csv_complete, max_bytes=1024)
    assert refused.value.details["parameter"] == "fail_fast"


@pytest.mark.parametrize(
    ("raw", "encoding", "expected"),
    [
        (b"id;Flood Zone;price\n1;A;2\n", None, ["id", "flood_zone", "price"]),
        (codecs.BOM_UTF8 + b'"id","a,b",c\n', None, ["id", "a_b", "c"]),
        ("id,Prix €\n".encode("cp1252"), "cp1252", ["id", "prix"]),
        (codecs.BOM_UTF16_LE + "id\tZone\n1\tA\n".encode("utf-16-le"), None, ["id", "zone"]),
    ],
)
def test_csv_headers_are_read_with_the_readers_rules(
    raw: bytes, encoding: str | None, expected: list[str]
) -> None:
    sample, _ = peek_header(io.BytesIO(raw), lambda s: is_header_complete(s, "csv", encoding))
    header = read_sample_header(sample, "csv", "f.csv", declared_encoding=encoding, at_end=False)
    assert header.columns == expected


def test_an_ndjson_header_is_the_first_records_keys_and_is_partial() -> None:
    body = b'\n{"ID": 1, "Price": 2.5}\n{"id": 2, "owner": "x"}\n'
    sample, _ = peek_header(io.BytesIO(body), lambda s: is_header_complete(s, "ndjson", None))
    assert sample == b'\n{"ID": 1, "Price": 2.5}\n'
    header = read_sample_header(sample, "ndjson", "t.ndjson", declared_encoding=None, at_end=False)
    assert header.columns == ["id", "price"] and not header.complete


@pytest.mark.parametrize(
    ("body", "message"), [(b"[1, 2]\n", "not a JSON object"), (b"{oops\n", "not valid JSON")]
)
def test_an_unreadable_first_record_is_a_read_error(body: bytes, message: str) -> None:
    with pytest.raises(ReadError, match=message):
        read_sample_header(body, "ndjson", "t.ndjson", declared_encoding=None, at_end=False)


def test_a_declared_header_line_honours_quotes_and_normalizes_names() -> None:
    assert build_declared_header('id,"Flood, Zone",price\r\n', "p.csv").columns == [
        "id",
        "flood_zone",
        "price",
    ]
    with pytest.raises(ReadError, match="both become 'a_b'"):
        build_declared_header("a b,a-b", "p.csv")
