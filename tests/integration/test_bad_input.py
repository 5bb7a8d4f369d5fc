"""Bad and unusual input files through the real pipeline (real Postgres) and the HTTP API.

A file the platform cannot read is the sender's problem, not a crash: it ends FAILED_READ with a
``read_error`` that names the file and says what to do (values that cannot be stored, ``bad_data``, end
FAILED_QUALITY), never FAILED_EXCEPTION (which is retried), and its exact bytes stay in the raw landing zone.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from eventpulse.adapters.postgres.tables import ingestions
from eventpulse.api.app import create_app
from eventpulse.demo.generator import write_case
from eventpulse.errors import PayloadTooLarge
from eventpulse.landing.register import register_stream
from eventpulse.states import TERMINAL, Status
from tests.helpers import artifacts, curated_count, ingest, schema_versions
from tests.integration.api_support import AUTH

DATASET = "edge_telemetry"
HEADER = [
    "event_id",
    "device_id",
    "event_type",
    "sensor",
    "value",
    "units",
    "ts",
    "lat",
    "lon",
    "battery_v",
    "rssi_dbm",
    "firmware_version",
    "status",
    "message",
]


def edge_rows(messages: list[str]) -> list[list[str]]:
    """Valid edge_telemetry readings, one per message (the only free-text column)."""
    return [
        [
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"bad-input-{i}")),
            "rpi-01",
            "reading",
            "temp_c",
            f"{20 + i % 7}.5",
            "C",
            f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}",
            "39.1",
            "-104.2",
            "3.9",
            "-80",
            "edge-agent/0.3.5",
            "",
            message,
        ]
        for i, message in enumerate(messages)
    ]


def edge_csv_text(messages: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(edge_rows(messages))
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def curated_messages(services) -> list[str | None]:
    with services.store.engine.connect() as conn:
        return list(
            conn.execute(text("SELECT message FROM curated_edge_telemetry ORDER BY _source_row")).scalars()
        )


def count_ingestions(services) -> int:
    with services.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ingestions)).scalar_one())


def assert_unreadable(services, row, *, code: str = "read_error", mentions: tuple[str, ...] = ()) -> None:
    """A terminal, user-facing read failure: nothing loaded, the raw bytes kept, a hint given."""
    assert row["status"] == Status.FAILED_READ, row["error"]
    assert row["attempts"] == 1 and row["finished_at"] is not None  # final at once: never retried
    error = row["error"]
    assert error["code"] == code, error
    assert error["message"] and "Traceback" not in error["message"], error
    shown = json.dumps(error)
    assert str(services.settings.data_dir) not in shown, error  # no server path
    assert row["sha256"] not in shown, error  # nor the raw key
    assert error.get("hint"), error  # says what to do
    for word in mentions:
        assert word.lower() in (error["message"] + " " + error["hint"]).lower(), error
    assert services.landing.exists(row["raw_key"])
    assert curated_count(services, DATASET) == 0
    assert schema_versions(services, DATASET) == 0
    assert artifacts(services, row["id"])["lineage"]["eventType"] == "FAIL"


# --- empty and header-only -----------------------------------------------------------------------


def test_empty_file_fails_read_with_a_read_error_and_keeps_the_raw_bytes(services, tmp_path) -> None:
    row = ingest(services, write(tmp_path, "empty.csv", b""), DATASET)
    assert_unreadable(services, row, mentions=("empty",))
    assert row["size_bytes"] == 0
    with services.landing.open(row["raw_key"]) as fh:
        assert fh.read() == b""


@pytest.mark.parametrize(
    "data", [b"\n\n", b"   \r\n", b"\xef\xbb\xbf"], ids=["newlines", "blank", "bom-only"]
)
def test_file_with_no_header_fails_read_as_empty(services, tmp_path, data: bytes) -> None:
    row = ingest(services, write(tmp_path, "blank.csv", data), DATASET)
    assert_unreadable(services, row, mentions=("empty",))


def test_header_only_csv_is_read_and_stopped_by_the_row_count_expectation(services, tmp_path) -> None:
    # docs/SCHEMA_DRIFT.md: a file with no rows is readable (every column nullable, type null = no
    # drift); the contract's expect_table_row_count_to_be_between(min 1) is what stops it.
    row = ingest(services, write(tmp_path, "header.csv", (",".join(HEADER) + "\n").encode()), DATASET)
    assert row["status"] == Status.FAILED_QUALITY, row["error"]
    assert row["error"]["code"] == "quality_gate_failed"
    report = artifacts(services, row["id"])["quality"]
    assert report["rows_evaluated"] == 0
    failing = [
        r["expectation_type"] for r in report["results"] if not r["success"] and r["severity"] == "critical"
    ]
    assert failing == ["expect_table_row_count_to_be_between"]
    drift = artifacts(services, row["id"])["drift"]
    assert drift["decision"]["outcome"] == "accept"
    assert not [c for c in drift["decision"]["changes"] if c["breaking"]]
    assert curated_count(services, DATASET) == 0
    assert schema_versions(services, DATASET) == 0


# --- encodings -----------------------------------------------------------------------------------

ACCENTED = ["température élevée", "Café crème", "Ærø façade naïve", "señal débil", "Größe über"]


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(["Ærø façade naïve"] * 5, id="nordic"),
        pytest.param(["Größe über Maß"] * 5, id="german"),
        pytest.param(["Café crème"] * 5, id="french-grave"),
        pytest.param(["voilà à côté"] * 5, id="french-a-grave"),
        pytest.param(["señal débil, niño, año"] * 5, id="spanish"),
        pytest.param(ACCENTED * 4, id="mixed"),
    ],
)
def test_latin1_csv_with_accents_is_decoded_correctly(services, tmp_path, messages: list[str]) -> None:
    path = write(tmp_path, "latin1.csv", edge_csv_text(messages).encode("latin-1"))
    row = ingest(services, path, DATASET)
    assert row["status"] == Status.LOADED, row["error"]
    assert curated_messages(services) == messages


def test_short_latin1_csv_is_decoded_or_refused_with_a_clear_encoding_error(services, tmp_path) -> None:
    # A single accented value gives a detector little evidence; either outcome is acceptable, but a
    # wrong decoding (mojibake loaded as if it were right) is not.
    path = write(tmp_path, "short-latin1.csv", edge_csv_text(["Café"]).encode("latin-1"))
    row = ingest(services, path, DATASET)
    if row["status"] == Status.LOADED:
        assert curated_messages(services) == ["Café"]
    else:
        assert_unreadable(services, row, mentions=("UTF-8",))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_csv_with_a_byte_order_mark_is_decoded_correctly(services, tmp_path, encoding: str) -> None:
    messages = ACCENTED + ["名前", "emoji 🚀"]
    path = write(tmp_path, f"{encoding}.csv", edge_csv_text(messages).encode(encoding))
    row = ingest(services, path, DATASET)
    assert row["status"] == Status.LOADED, row["error"]
    assert curated_messages(services) == messages


def test_utf16_csv_without_a_byte_order_mark_is_decoded_or_refused_as_an_encoding_problem(
    services, tmp_path
) -> None:
    # ASCII-only text: every other byte is NUL, which is still valid UTF-8.
    messages = ["plain ascii", "more text"]
    path = write(tmp_path, "utf16le.csv", edge_csv_text(messages).encode("utf-16-le"))
    row = ingest(services, path, DATASET)
    if row["status"] == Status.LOADED:
        assert curated_messages(services) == messages
    else:
        assert_unreadable(services, row, mentions=("UTF",))


def test_binary_garbage_named_csv_fails_read_with_a_read_error(services, tmp_path) -> None:
    data = random.Random(1).randbytes(64 * 1024)
    row = ingest(services, write(tmp_path, "garbage.csv", data), DATASET)
    assert_unreadable(services, row)


def test_png_bytes_named_csv_fails_read_with_a_read_error(services, tmp_path) -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(2).randbytes(4096)
    row = ingest(services, write(tmp_path, "image.csv", data), DATASET)
    assert_unreadable(services, row)


@pytest.mark.parametrize(
    ("name", "data"),
    # The ragged file has the contract's header: a header the policy rejects ends FAILED_DRIFT unread.
    [("ragged.csv", (",".join(HEADER) + "\n1,2,3\n").encode()), ("empty.csv", b""), ("broken.json", b"[{")],
)
def test_read_error_names_the_file_the_user_sent(services, tmp_path, name: str, data: bytes) -> None:
    row = ingest(services, write(tmp_path, name, data), DATASET)
    assert row["status"] == Status.FAILED_READ
    assert row["error"]["code"] == "read_error"
    assert name in row["error"]["message"]
    assert row["sha256"] not in row["error"]["message"]


# --- corrupt containers --------------------------------------------------------------------------


def valid_xlsx(tmp_path: Path) -> bytes:
    return write_case(DATASET, "baseline", "xlsx", tmp_path / "gen", rows=20, seed=5).read_bytes()


@pytest.mark.parametrize("cut", ["half", "first_kb", "zip_garbage"])
def test_truncated_or_corrupt_xlsx_fails_read_with_a_read_error(services, tmp_path, cut: str) -> None:
    good = valid_xlsx(tmp_path)
    data = {
        "half": good[: len(good) // 2],
        "first_kb": good[:1024],
        "zip_garbage": b"PK\x03\x04" + random.Random(3).randbytes(2048),
    }[cut]
    row = ingest(services, write(tmp_path, f"{cut}.xlsx", data), DATASET)
    assert_unreadable(services, row, mentions=("xlsx",))


def test_csv_bytes_named_xlsx_fails_read_with_a_read_error(services, tmp_path) -> None:
    row = ingest(services, write(tmp_path, "really.xlsx", edge_csv_text(["x"]).encode()), DATASET)
    assert_unreadable(services, row, mentions=("xlsx",))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("cut.json", b'[{"event_id": "a", "device_id": '),
        ("trailing_comma.json", b'[{"event_id": "a"},]'),
        ("not_array.json", b'{"event_id": "a"}{'),
        ("scalars.json", b"[1, 2, 3]"),
        ("bad_line.ndjson", b'{"event_id": "a"}\n{"event_id": \n'),
        ("text.jsonl", b"hello world\n"),
    ],
)
def test_malformed_json_fails_read_with_a_read_error(services, tmp_path, name: str, data: bytes) -> None:
    row = ingest(services, write(tmp_path, name, data), DATASET)
    assert_unreadable(services, row, mentions=("JSON",))


def test_corrupt_parquet_fails_read_with_a_read_error(services, tmp_path) -> None:
    row = ingest(services, write(tmp_path, "bad.parquet", b"PAR1" + b"\x00" * 100 + b"PAR1"), DATASET)
    assert_unreadable(services, row, mentions=("Parquet",))


def test_row_with_too_many_fields_names_the_line(services, tmp_path) -> None:
    lines = edge_csv_text(["ok", "ok", "ok"]).splitlines()
    lines[2] += ",extra"
    row = ingest(services, write(tmp_path, "ragged.csv", ("\n".join(lines) + "\n").encode()), DATASET)
    assert_unreadable(services, row, mentions=("line 3",))


# --- size limit ----------------------------------------------------------------------------------


def leftovers(services) -> list[Path]:
    tmp = services.settings.tmp_dir
    return sorted(tmp.rglob("*")) if tmp.exists() else []


def test_register_stream_over_max_bytes_is_refused_and_leaves_no_temp_file(services) -> None:
    services.settings = services.settings.with_overrides(upload_max_bytes=1000)
    body = edge_csv_text(["x" * 2000]).encode()
    with pytest.raises(PayloadTooLarge) as caught:
        register_stream(
            services,
            dataset=DATASET,
            filename="big.csv",
            source="test",
            stream=io.BytesIO(body),
            actor="test",
            max_bytes=services.settings.upload_max_bytes,
        )
    assert "1000" in caught.value.message and caught.value.hint
    assert count_ingestions(services) == 0
    assert leftovers(services) == []
    assert not list(services.settings.raw_dir.rglob("*.csv"))


def test_file_exactly_at_max_bytes_is_accepted(services) -> None:
    body = edge_csv_text(["at the limit"]).encode()
    registration = register_stream(
        services,
        dataset=DATASET,
        filename="exact.csv",
        source="test",
        stream=io.BytesIO(body),
        actor="test",
        max_bytes=len(body),
    )
    assert registration.ingestion["size_bytes"] == len(body)
    assert leftovers(services) == []


@pytest.fixture
def small_limit_client(services) -> FlaskClient:
    services.settings = services.settings.with_overrides(upload_max_bytes=1000)
    return create_app(services).test_client()


def test_upload_over_the_limit_with_content_length_is_413_without_a_trace(
    services, small_limit_client
) -> None:
    response = small_limit_client.post(
        "/api/ingest/upload",
        query_string={"dataset": DATASET, "filename": "big.csv"},
        data=b"y" * 5000,
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large" and "1000" in error["message"] and error["hint"]
    assert count_ingestions(services) == 0
    assert leftovers(services) == []


def test_chunked_upload_over_the_limit_is_413_and_leaves_no_temp_file(services, small_limit_client) -> None:
    response = small_limit_client.post(
        "/api/ingest/upload",
        query_string={"dataset": DATASET, "filename": "big.csv"},
        input_stream=io.BytesIO(b"y" * 5000),
        headers={**AUTH, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert count_ingestions(services) == 0
    assert leftovers(services) == []
    raw = services.settings.raw_dir
    assert not (raw.exists() and [p for p in raw.rglob("*") if p.is_file()])


def test_empty_upload_is_registered_and_fails_read_with_a_read_error(services) -> None:
    client = create_app(services).test_client()
    response = client.post(
        "/api/ingest/upload",
        query_string={"dataset": DATASET, "filename": "empty.csv"},
        data=b"",
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "FAILED_READ"
    assert body["error"]["code"] == "read_error" and "empty" in body["error"]["message"]
    assert services.landing.exists(body["raw_key"])


# --- awkward values ------------------------------------------------------------------------------


def test_nul_character_in_a_text_value_fails_quality_not_exception(services, tmp_path) -> None:
    path = write(tmp_path, "nul.csv", edge_csv_text(["fine", "bad\x00value", "fine"]).encode())
    row = ingest(services, path, DATASET)
    assert row["status"] == Status.FAILED_QUALITY, row["error"]
    assert row["error"]["code"] == "bad_data"
    assert "NUL" in row["error"]["message"] and "'message'" in row["error"]["message"]
    assert row["error"].get("hint")
    assert row["attempts"] == 1
    assert curated_count(services, DATASET) == 0
    assert schema_versions(services, DATASET) == 0
    assert services.landing.exists(row["raw_key"])


def test_nul_character_in_a_json_string_fails_quality_not_exception(services, tmp_path) -> None:
    records = [dict(zip(HEADER, r, strict=True)) for r in edge_rows(["a\u0000b"])]
    row = ingest(services, write(tmp_path, "nul.json", json.dumps(records).encode()), DATASET)
    assert row["status"] == Status.FAILED_QUALITY, row["error"]
    assert "NUL" in row["error"]["message"]


TRICKY = [
    "line one\nline two",
    "comma, inside",
    'she said "hi"',
    '"quoted whole"',
    "crlf\r\ninside",
    "blank line\n\ninside",
    "trailing newline\n",
    "  leading and trailing spaces  ",
    "tab\there",
    "semi;colon|pipe",
    "back\\slash",
    "",
    "ünïcödé ✓ 名前",
]


def test_quoted_newlines_commas_and_quotes_load_exactly(services, tmp_path) -> None:
    row = ingest(services, write(tmp_path, "tricky.csv", edge_csv_text(TRICKY).encode()), DATASET)
    assert row["status"] == Status.LOADED, row["error"]
    assert row["rows_loaded"] == len(TRICKY)
    assert curated_messages(services) == [m or None for m in TRICKY]


def test_quoted_newlines_first_in_the_file_do_not_confuse_delimiter_sniffing(services, tmp_path) -> None:
    messages = ["a\n\n\nb, c; d | e\n" * 30] * 3
    row = ingest(services, write(tmp_path, "sniff.csv", edge_csv_text(messages).encode()), DATASET)
    assert row["status"] == Status.LOADED, row["error"]
    assert curated_messages(services) == messages


@pytest.mark.slow
def test_quoted_newlines_across_reader_blocks_load_exactly(services, tmp_path) -> None:
    # More than the CSV reader's 4 MiB block: a quoted newline will sit near a block boundary.
    messages = [f"row {i}\n" + "x" * 200 + "\nend" for i in range(25_000)]
    data = edge_csv_text(messages).encode()
    assert len(data) > 5 * (1 << 20)
    row = ingest(services, write(tmp_path, "many_newlines.csv", data), DATASET)
    assert row["status"] == Status.LOADED, row["error"]
    assert row["rows_loaded"] == len(messages)
    assert curated_messages(services) == messages


def test_one_megabyte_value_loads(services, tmp_path) -> None:
    wide = "w" * (1 << 20)
    row = ingest(services, write(tmp_path, "wide.csv", edge_csv_text(["short", wide]).encode()), DATASET)
    assert row["status"] == Status.LOADED, row["error"]
    with services.store.engine.connect() as conn:
        lengths = conn.execute(
            text("SELECT length(message) FROM curated_edge_telemetry ORDER BY _source_row")
        ).scalars()
        assert list(lengths) == [5, 1 << 20]


def test_value_larger_than_the_reader_block_loads(services, tmp_path) -> None:
    wide = "w" * (5 << 20)
    row = ingest(services, write(tmp_path, "wider.csv", edge_csv_text(["short", wide]).encode()), DATASET)
    assert row["status"] == Status.LOADED, row["error"]
    with services.store.engine.connect() as conn:
        lengths = conn.execute(
            text("SELECT length(message) FROM curated_edge_telemetry ORDER BY _source_row")
        ).scalars()
        assert list(lengths) == [5, 5 << 20]


@pytest.fixture
def client(services) -> FlaskClient:
    return create_app(services).test_client()


def test_declared_encoding_decodes_a_central_european_file(client, services, tmp_path) -> None:
    # cp1250 text that also decodes as printable cp1252: without a declaration it would be misread.
    messages = ["Łódź, żółć", "Příliš žluťoučký kůň"]
    data = edge_csv_text(messages).encode("cp1250")
    response = client.post(
        "/api/ingest/upload?dataset=edge_telemetry&filename=pl.csv&encoding=cp1250",
        data=data,
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == Status.LOADED
    assert curated_messages(services) == messages


def test_unknown_declared_encoding_is_a_bad_request(client, tmp_path) -> None:
    response = client.post(
        "/api/ingest/upload?dataset=edge_telemetry&filename=x.csv&encoding=klingon-8",
        data=b"a,b\n1,2\n",
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 400
    assert "klingon-8" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("encoding", ["%00", "zlib", "base64", "rot13", "hex", "utf-8%00"])
def test_a_declared_encoding_that_is_not_a_text_encoding_is_refused_with_400(
    client, services, encoding: str
) -> None:
    response = client.post(
        f"/api/ingest/upload?dataset=edge_telemetry&filename=x.csv&encoding={encoding}",
        data=b"a,b\n1,2\n",
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and "not a known text encoding" in error["message"]
    assert "utf-8" in error["hint"] and error["details"]["parameter"] == "encoding"
    assert count_ingestions(services) == 0
    assert not list(services.settings.raw_dir.rglob("*.csv"))


def test_ingestion_registered_with_a_non_text_encoding_fails_terminally_naming_it(services, tmp_path) -> None:
    # Intake refuses it now; a row registered before it did must not loop through retries.
    data = edge_csv_text(["hi"]).encode()
    registration = register_stream(
        services,
        dataset="edge_telemetry",
        filename="old.csv",
        source="test",
        stream=io.BytesIO(data),
        actor="test",
        options={"encoding": "zlib"},
    )
    with services.store.engine.connect() as conn:
        row = conn.execute(select(ingestions).where(ingestions.c.id == registration.ingestion["id"])).one()
    assert row.status == Status.FAILED_READ and Status(row.status) in TERMINAL and row.attempts == 1
    assert row.error["code"] == "read_error" and "'zlib'" in row.error["message"]


# --- rows and records no reader can take --------------------------------------------------------


def test_a_row_longer_than_a_read_block_fails_read_saying_so(services, tmp_path) -> None:
    text_ = edge_csv_text(["x" * (50 << 20)] + ["ok"] * 3)  # one 50 MiB message, unquoted
    row = ingest(services, write(tmp_path, "long-row.csv", text_.encode()), DATASET)
    assert_unreadable(services, row, mentions=("4 MiB", "quote"))
    assert "straddl" not in row["error"]["message"]  # pyarrow's words are not the user's


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("deep.ndjson", b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"),
        ("deep.json", b"[" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]"),
    ],
    ids=["ndjson", "json"],
)
def test_json_nested_100k_levels_deep_fails_read_at_once(services, tmp_path, name: str, data: bytes) -> None:
    row = ingest(services, write(tmp_path, name, data), DATASET)
    assert_unreadable(services, row, mentions=("nested too deeply", "flatten"))
