"""A generated corpus of hostile files (seeded, deterministic): encodings, BOMs, NULs, quotes, long
lines and fields, wide files, SQL-keyword and hostile column names, decompression bombs, truncated and
corrupt XLSX and Parquet, deep JSON, NDJSON with one bad line, and names that try to leave the data
folder. Each entry is (upload file name, bytes written to disk, what it tries)."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from eventpulse.demo.generator import write_case
from tests import bombs

HEADER = ["event_id", "device_id", "event_type", "sensor", "value", "units", "ts"]
SQL_WORDS = ["select", "from", "where", "table", "drop", "user", "order", "group", "limit", "default", "null"]
HOSTILE_NAMES = [
    '"; DROP TABLE ingestions; --',
    "a'b",
    "Robert'); DROP TABLE students;--",
    "\u202eevil",
    "名前",
    "🚀",
    "",
    " ",
    "x" * 300,
    "ctid",
    "xmin",
    "_ingestion_id",
    "$1",
    "a\x00b",
    "new\nline",
    "tab\there",
    "%s%s%n",
    "${jndi:ldap://x}",
    "../../etc",
    "NULL",
]
TRAVERSAL_NAMES = [
    "../../etc/passwd.csv",
    "..\\..\\windows\\x.csv",
    "/etc/cron.d/x.csv",
    "%2e%2e%2fx.csv",
    "a/../../b.csv",
    "....//....//x.csv",
    "x.csv\x00.exe",
    "con.csv",
    ".csv",
    "~/.ssh/authorized_keys.csv",
    "file\r\nX-Injected: 1.csv",
    "\u202ecsv.exe.csv",
    "a" * 400 + ".csv",
    "./../x.ndjson",
    "dir/sub/../../../x.json",
]


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    what: str


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode()


def _rows(rng: random.Random, n: int, width: int = len(HEADER)) -> list[list[str]]:
    return [
        [
            f"e{rng.randrange(10**9)}",
            "rpi-01",
            "reading",
            "temp_c",
            str(rng.random()),
            "C",
            "2025-01-01T00:00:00",
        ][:width]
        + [str(rng.randrange(100)) for _ in range(width - len(HEADER))]
        for _ in range(n)
    ]


def valid_csv(tmp: Path, seed: int) -> bytes:
    return write_case("edge_telemetry", "baseline", "csv", tmp / f"v{seed}", rows=20, seed=seed).read_bytes()


def corpus(tmp: Path, seed: int = 20261203, *, big: bool = True) -> Iterator[Hostile]:
    """At least 200 hostile files; ``big`` adds the few that are large to write (50 MB line, 10k columns)."""
    rng = random.Random(seed)
    tmp.mkdir(parents=True, exist_ok=True)
    base = valid_csv(tmp, 1)
    text = base.decode()
    # --- encodings, BOMs, NULs ---
    for enc in [
        "utf-8-sig",
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "latin-1",
        "cp1252",
        "shift_jis",
        "koi8-r",
        "cp037",
    ]:
        try:
            yield Hostile(
                f"enc-{enc}.csv",
                text.replace("reading", "réading").encode(enc, errors="replace"),
                f"encoding {enc}",
            )
        except LookupError:
            continue
    yield Hostile("bom-only.csv", b"\xef\xbb\xbf", "a BOM and nothing else")
    yield Hostile("bom-twice.csv", b"\xef\xbb\xbf\xef\xbb\xbf" + base, "two BOMs")
    yield Hostile("nul-only.csv", b"\x00" * 4096, "NULs only")
    yield Hostile("nul-in-values.csv", base.replace(b"reading", b"rea\x00ding"), "NUL inside values")
    yield Hostile("nul-in-header.csv", base.replace(b"sensor", b"sen\x00sor", 1), "NUL inside the header")
    yield Hostile("binary.csv", bytes(rng.randrange(256) for _ in range(20_000)), "random bytes named .csv")
    yield Hostile(
        "invalid-utf8-late.csv",
        base + b"e1,rpi-01,reading,temp_c,1,C,\xff\xfe\xfd\n",
        "bad UTF-8 on the last line",
    )
    yield Hostile("surrogates.csv", base.replace(b"reading", b"\xed\xa0\x80"), "UTF-8 encoded surrogates")
    # --- quotes, delimiters, line endings ---
    lines = text.splitlines()
    for i in range(8):
        at = rng.randrange(1, len(lines))
        broken = lines[:at] + ['"' + lines[at]] + lines[at + 1 :]
        yield Hostile(
            f"unclosed-quote-{i}.csv",
            ("\n".join(broken) + "\n").encode(),
            f"a quote never closed at line {at + 1}",
        )
    yield Hostile(
        "quote-in-header.csv", text.replace("sensor", 'sen"sor', 1).encode(), "a stray quote in the header"
    )
    for sep in [";", "\t", "|", ":", "\x1f"]:
        yield Hostile(f"sep-{ord(sep)}.csv", text.replace(",", sep).encode(), f"delimiter {sep!r}")
    yield Hostile("cr-only.csv", text.replace("\n", "\r").encode(), "CR line endings")
    yield Hostile(
        "mixed-endings.csv",
        "".join(ln + rng.choice(["\n", "\r\n", "\r"]) for ln in lines).encode(),
        "mixed line endings",
    )
    yield Hostile(
        "ragged.csv",
        ("\n".join(ln + ",x" * rng.randrange(3) for ln in lines) + "\n").encode(),
        "rows of different widths",
    )
    yield Hostile("header-only.csv", (lines[0] + "\n").encode(), "a header and no rows")
    yield Hostile("blank-lines.csv", ("\n\n\n" + "\n\n".join(lines)).encode(), "blank lines everywhere")
    yield Hostile(
        "title-rows.csv", ("Report\nGenerated today\n\n" + text).encode(), "title rows above the header"
    )
    # --- long lines and fields, wide files ---
    yield Hostile(
        "field-5mb.csv",
        _csv(HEADER, [["e1", "rpi-01", "reading", "temp_c", "1", "x" * (5 << 20), "2025-01-01"]]),
        "a 5 MB field",
    )
    yield Hostile(
        "field-quoted-newlines.csv",
        _csv(HEADER, [["e1", "rpi-01", "a\nb\nc" * 1000, "t", "1", "C", "2025-01-01"]]),
        "a quoted field with 3,000 newlines",
    )
    if big:
        yield Hostile("line-50mb.csv", (lines[0] + "\n" + "y" * (50 << 20) + "\n").encode(), "a 50 MB line")
        wide = [f"c{i}" for i in range(10_000)]
        yield Hostile("wide-10k.csv", _csv(wide, [["1"] * 10_000 for _ in range(3)]), "10,000 columns")
    yield Hostile(
        "wide-1584.csv",
        _csv(HEADER + [f"w{i}" for i in range(1584 - len(HEADER))], _rows(rng, 3, 1584)),
        "exactly the widest a table holds",
    )
    yield Hostile(
        "wide-1585.csv",
        _csv(HEADER + [f"w{i}" for i in range(1585 - len(HEADER))], _rows(rng, 3, 1585)),
        "one column too wide",
    )
    # --- column names ---
    for i in range(30):
        names = HEADER + rng.sample(SQL_WORDS + HOSTILE_NAMES, k=rng.randrange(1, 6))
        yield Hostile(
            f"names-{i}.csv",
            _csv(names, _rows(rng, 5, len(names))),
            f"hostile column names {names[len(HEADER) :]!r}",
        )
    yield Hostile(
        "names-all-sql.csv", _csv(SQL_WORDS, [[str(i) for i in range(len(SQL_WORDS))]]), "SQL keywords only"
    )
    yield Hostile(
        "names-duplicate.csv", _csv(HEADER + ["value"], _rows(rng, 3, len(HEADER) + 1)), "a duplicate header"
    )
    # --- workbooks: bombs, entities, truncated, corrupt ---
    cols = ["event_id", "value"]
    yield Hostile(
        "bomb-repetitive.xlsx",
        bombs.repetitive_bomb(tmp / "rb.xlsx", expanded_mib=600, columns=cols).read_bytes(),
        "a sheet that expands to 600 MiB",
    )
    yield Hostile(
        "bomb-sparse.xlsx", bombs.sparse_bomb(tmp / "sb.xlsx").read_bytes(), "A1 and ZZ1000000 only"
    )
    yield Hostile(
        "bomb-laughs.xlsx",
        bombs.billion_laughs(tmp / "bl.xlsx", cols).read_bytes(),
        "billion laughs entities",
    )
    lying = bombs.write_workbook(
        tmp / "ly.xlsx",
        bombs.sheet([bombs.header_row(cols)] + [b"<row><c><v>1</v></c></row>" * 200_000]),
        zip64=False,
    )
    yield Hostile(
        "bomb-lying.xlsx",
        bombs.understate_sizes(lying, bombs.SHEET, 100).read_bytes(),
        "a zip that understates its sizes",
    )
    good_xlsx = write_case("edge_telemetry", "baseline", "xlsx", tmp / "gx", rows=50, seed=2).read_bytes()
    for i in range(12):
        cut = rng.randrange(1, len(good_xlsx))
        yield Hostile(f"xlsx-cut-{i}.xlsx", good_xlsx[:cut], f"a workbook cut at byte {cut}")
    for i in range(12):
        flipped = bytearray(good_xlsx)
        for _ in range(rng.randrange(1, 20)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        yield Hostile(f"xlsx-flip-{i}.xlsx", bytes(flipped), "a workbook with flipped bytes")
    yield Hostile("xlsx-not-zip.xlsx", b"<html>not a workbook</html>", "HTML named .xlsx")
    yield Hostile("xlsx-empty.xlsx", b"", "an empty workbook")
    # --- parquet: truncated, corrupt, odd ---
    table = pa.table({"event_id": [f"e{i}" for i in range(500)], "value": [float(i) for i in range(500)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    good_parquet = buffer.getvalue()
    for i in range(12):
        cut = rng.randrange(1, len(good_parquet))
        yield Hostile(f"parquet-cut-{i}.parquet", good_parquet[:cut], f"a Parquet file cut at byte {cut}")
    for i in range(12):
        flipped = bytearray(good_parquet)
        for _ in range(rng.randrange(1, 10)):
            flipped[rng.randrange(4, len(flipped) - 8)] = rng.randrange(256)
        yield Hostile(f"parquet-flip-{i}.parquet", bytes(flipped), "a Parquet file with flipped bytes")
    yield Hostile("parquet-magic-only.parquet", b"PAR1PAR1", "magic bytes only")
    yield Hostile("parquet-empty.parquet", b"", "an empty Parquet file")
    nested = pa.table({"event_id": ["e1"], "deep": [{"a": {"b": {"c": [1, 2, 3]}}}]})
    buffer = io.BytesIO()
    pq.write_table(nested, buffer)
    yield Hostile("parquet-nested.parquet", buffer.getvalue(), "nested struct columns")
    # --- JSON and NDJSON ---
    records = [dict(zip(HEADER, r, strict=True)) for r in _rows(rng, 20)]
    ndjson = "".join(json.dumps(r) + "\n" for r in records)
    for depth in (1_000, 100_000):
        yield Hostile(
            f"deep-{depth}.json",
            b"[" + b'{"a":' * depth + b"1" + b"}" * depth + b"]",
            f"JSON nested {depth} deep",
        )
        yield Hostile(
            f"deep-{depth}.ndjson",
            b'{"a":' * depth + b"1" + b"}" * depth + b"\n",
            f"NDJSON nested {depth} deep",
        )
    ndjson_lines = ndjson.splitlines()
    for i in range(10):
        at = rng.randrange(len(ndjson_lines))
        bad = (
            ndjson_lines[:at]
            + [rng.choice(["{", "not json", '{"a": }', "[1,2]", "null", '"str"', '{"a":1}}'])]
            + ndjson_lines[at + 1 :]
        )
        yield Hostile(
            f"ndjson-bad-line-{i}.ndjson",
            ("\n".join(bad) + "\n").encode(),
            f"one bad NDJSON line at {at + 1}",
        )
    yield Hostile("json-not-array.json", json.dumps(records[0]).encode(), "one object, not an array")
    yield Hostile("json-array-of-arrays.json", json.dumps([[1, 2], [3]]).encode(), "arrays, not objects")
    yield Hostile(
        "json-huge-number.json",
        b'[{"event_id": "e1", "value": 1' + b"0" * 10_000 + b"}]",
        "a 10,000-digit number",
    )
    yield Hostile("json-nan.json", b'[{"event_id": "e1", "value": NaN}]', "NaN")
    yield Hostile("json-dup-keys.json", b'[{"event_id": "e1", "event_id": "e2"}]', "duplicate keys")
    yield Hostile("json-unclosed.json", ndjson.encode()[:-10], "NDJSON cut mid-record named .json")
    yield Hostile("json-empty.json", b"", "an empty JSON file")
    yield Hostile("json-empty-array.json", b"[]", "an empty array")
    yield Hostile("ndjson-blank.ndjson", b"\n\n\n", "blank lines only")
    yield Hostile("json-lone-surrogate.json", b'[{"event_id": "\\ud800"}]', "a lone surrogate escape")
    yield Hostile(
        "json-key-types.json",
        json.dumps([{"event_id": 1}, {"event_id": "x"}, {"event_id": [1]}]).encode(),
        "a key changing type",
    )
    yield Hostile(
        "json-many-keys.json", json.dumps([{f"k{i}": i for i in range(3000)}]).encode(), "3,000 keys"
    )
    # --- names that try to leave the data folder ---
    for i, name in enumerate(TRAVERSAL_NAMES):
        yield Hostile(name, valid_csv(tmp, 100 + i), f"file name {name[:40]!r}")
    # --- empty files and random mutations of a valid CSV ---
    for ext in ["csv", "tsv", "ndjson", "jsonl"]:
        yield Hostile(f"empty.{ext}", b"", f"an empty .{ext}")
    for i in range(40):
        data = bytearray(valid_csv(tmp, 200 + i))
        for _ in range(rng.randrange(1, 30)):
            op = rng.randrange(3)
            at = rng.randrange(len(data))
            if op == 0:
                del data[at : at + rng.randrange(1, 50)]
            elif op == 1:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
            else:
                data[at] = rng.choice(b',"\n\r\x00;\\')
        yield Hostile(f"mutated-{i}.csv", bytes(data), "a valid CSV with random edits")
