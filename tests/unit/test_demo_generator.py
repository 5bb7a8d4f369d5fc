"""The demo generator: deterministic files whose cases differ from the baseline exactly as named."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import fastexcel
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from eventpulse.demo.__main__ import main
from eventpulse.demo.generator import (
    CASES,
    DATASETS,
    EDGE_COLUMNS,
    KEY_WIDTH,
    PARCEL_COLUMNS,
    PRIMARY_KEY,
    TYPE_CHANGE_COLUMN,
    generate_rows,
    seed_files,
    write_all,
    write_case,
)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
ROWS = 300


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_all(out, rows=ROWS)
    return out


def read_csv(path: Path) -> pa.Table:
    return pacsv.read_csv(path)


def read_xlsx(path: Path) -> pa.Table:
    batch = fastexcel.read_excel(str(path)).load_sheet(0).to_arrow()
    return pa.Table.from_batches([batch])


def read_any(path: Path) -> pa.Table:
    return read_csv(path) if path.suffix == ".csv" else read_xlsx(path)


def files_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_write_all_writes_every_dataset_case_and_format(demo_dir: Path) -> None:
    expected = {f"{d}_{c}.{f}" for d in DATASETS for c in CASES for f in ("csv", "xlsx")}
    assert {p.name for p in demo_dir.iterdir()} == expected


def test_same_seed_gives_identical_bytes_and_another_seed_differs(demo_dir: Path, tmp_path: Path) -> None:
    write_all(tmp_path / "again", rows=ROWS)
    write_all(tmp_path / "other", rows=ROWS, seed=8)
    reference = files_bytes(demo_dir)
    assert files_bytes(tmp_path / "again") == reference
    other = files_bytes(tmp_path / "other")
    assert all(other[name] != content for name, content in reference.items())


def test_rows_depend_only_on_their_index_so_start_continues_a_stream() -> None:
    for dataset in DATASETS:
        whole = list(generate_rows(dataset, "baseline", 2100, seed=3))
        tail = list(generate_rows(dataset, "baseline", 100, seed=3, start=2000))
        assert tail == whole[2000:]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_baseline_has_the_sample_columns_and_a_unique_key(demo_dir: Path, dataset: str, fmt: str) -> None:
    table = read_any(demo_dir / f"{dataset}_baseline.{fmt}")
    assert tuple(table.column_names) == (PARCEL_COLUMNS if dataset == "parcels" else EDGE_COLUMNS)
    assert table.num_rows == ROWS
    keys = table.column(PRIMARY_KEY[dataset]).to_pylist()  # type: ignore[index]
    assert len(set(keys)) == ROWS


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_add_column_adds_exactly_one_trailing_column(demo_dir: Path, dataset: str, fmt: str) -> None:
    base = read_any(demo_dir / f"{dataset}_baseline.{fmt}")
    added = read_any(demo_dir / f"{dataset}_add_column.{fmt}")
    assert added.column_names[:-1] == base.column_names
    assert len(added.column_names) == len(base.column_names) + 1
    assert added.select(base.column_names).equals(base)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_duplicate_pk_repeats_exactly_one_key_once(demo_dir: Path, dataset: str, fmt: str) -> None:
    base = read_any(demo_dir / f"{dataset}_baseline.{fmt}")
    dup = read_any(demo_dir / f"{dataset}_duplicate_pk.{fmt}")
    keys = base.column_names[: KEY_WIDTH[dataset]]  # type: ignore[index]
    assert keys[0] == PRIMARY_KEY[dataset]  # type: ignore[index]
    counts = Counter(zip(*(dup.column(k).to_pylist() for k in keys), strict=True))
    assert [n for n in counts.values() if n > 1] == [2]
    assert dup.column_names == base.column_names and dup.num_rows == base.num_rows
    assert dup.drop_columns(keys).equals(base.drop_columns(keys))


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_type_change_column_is_read_as_text_where_baseline_is_numeric(
    demo_dir: Path, dataset: str, fmt: str
) -> None:
    column = TYPE_CHANGE_COLUMN[dataset]  # type: ignore[index]
    base = read_any(demo_dir / f"{dataset}_baseline.{fmt}")
    changed = read_any(demo_dir / f"{dataset}_type_change.{fmt}")
    assert pa.types.is_floating(base.schema.field(column).type)
    assert pa.types.is_string(changed.schema.field(column).type) or pa.types.is_large_string(
        changed.schema.field(column).type
    )
    others = [c for c in base.column_names if c != column]
    assert changed.select(others).equals(base.select(others))


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_schema_inferrer_sees_the_type_change(demo_dir: Path, dataset: str, fmt: str) -> None:
    inference = pytest.importorskip("eventpulse.schema.inference")
    column = TYPE_CHANGE_COLUMN[dataset]  # type: ignore[index]

    def infer(case: str) -> Any:
        inferrer = inference.SchemaInferrer(text_typed=fmt == "csv")
        path = demo_dir / f"{dataset}_{case}.{fmt}"
        table = read_csv_as_text(path) if fmt == "csv" else read_xlsx(path)
        for batch in table.to_batches():
            inferrer.feed(batch)
        return inferrer.result()

    assert infer("baseline").get(column).type in ("number", "integer")
    assert infer("type_change").get(column).type == "string"


def read_csv_as_text(path: Path) -> pa.Table:
    names = path.open(encoding="utf-8").readline().rstrip("\n").split(",")
    options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=options)


def test_parcels_type_change_prices_are_currency_text_in_both_formats(demo_dir: Path) -> None:
    from_csv = read_csv(demo_dir / "parcels_type_change.csv").column("sale_price").to_pylist()
    from_xlsx = read_xlsx(demo_dir / "parcels_type_change.xlsx").column("sale_price").to_pylist()
    assert from_csv == from_xlsx
    assert all(v.startswith("$") and "," in v for v in from_csv)


def test_edge_type_change_values_carry_their_units(demo_dir: Path) -> None:
    table = read_csv(demo_dir / "edge_telemetry_type_change.csv").to_pylist()
    readings = [r for r in table if r["event_type"] == "reading"]
    assert readings and all(r["value"].endswith(r["units"]) for r in readings)
    assert all(not r["value"] for r in table if r["event_type"] == "heartbeat")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_parcels_zips_keep_leading_zeros_as_text(demo_dir: Path, fmt: str) -> None:
    path = demo_dir / f"parcels_baseline.{fmt}"
    if fmt == "csv":
        zips = [row["zip"] for row in csv.DictReader(path.open(encoding="utf-8", newline=""))]
    else:
        zips = read_xlsx(path).column("zip").to_pylist()
    assert all(len(z) == 5 and z.isdigit() for z in zips)
    assert any(z.startswith("0") for z in zips)


def test_parcels_have_mostly_empty_integer_columns_and_tricky_text(demo_dir: Path) -> None:
    rows = list(csv.DictReader((demo_dir / "parcels_baseline.csv").open(encoding="utf-8", newline="")))
    for column in ("year_built", "bedrooms", "building_sqft", "lot_sqft"):
        values = [r[column] for r in rows if r[column]]
        assert len(values) < len(rows) / 2 and all(v.isdigit() for v in values)
    text = [r[c] for r in rows for c in ("situs_address", "grantor", "grantee")]
    assert any("," in v for v in text) and any('"' in v for v in text) and any(not v.isascii() for v in text)


def test_edge_heartbeats_have_no_sensor_value_or_units_and_ts_has_no_zone(demo_dir: Path) -> None:
    rows = list(csv.DictReader((demo_dir / "edge_telemetry_baseline.csv").open(encoding="utf-8", newline="")))
    heartbeats = [r for r in rows if r["event_type"] == "heartbeat"]
    assert heartbeats and all(r["sensor"] == r["value"] == r["units"] == "" for r in heartbeats)
    assert {r["device_id"] for r in rows} == {"rpi-01", "rpi-02", "rpi-03"}
    assert all(datetime.fromisoformat(r["ts"]).tzinfo is None for r in rows)


def test_csv_holds_the_typed_rows_of_generate_rows(demo_dir: Path) -> None:
    names = list(PARCEL_COLUMNS)
    types = {n: pa.string() for n in ("zip", "doc_number", "book", "page")}
    types |= {"sale_date": pa.date32(), "recording_date": pa.date32(), "updated_at": pa.timestamp("s")}
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    table = pacsv.read_csv(demo_dir / "parcels_baseline.csv", convert_options=options)
    expected = list(generate_rows("parcels", "baseline", ROWS))
    assert table.select(names).to_pylist() == expected
    assert isinstance(expected[0]["sale_date"], date) and isinstance(expected[0]["updated_at"], datetime)


def test_xlsx_stores_dates_as_excel_dates(demo_dir: Path) -> None:
    schema = read_xlsx(demo_dir / "parcels_baseline.xlsx").schema
    for column in ("sale_date", "recording_date", "updated_at"):
        assert pa.types.is_timestamp(schema.field(column).type) or pa.types.is_date(schema.field(column).type)


def test_seed_files_split_the_baseline_into_disjoint_bounded_files(tmp_path: Path) -> None:
    paths = seed_files("parcels", tmp_path / "seed", limit=2500, per_ingestion_max=1000)
    tables = [read_csv(p) for p in paths]
    assert [t.num_rows for t in tables] == [1000, 1000, 500]
    keys = [set(t.column("parcel_id").to_pylist()) for t in tables]
    assert sum(len(k) for k in keys) == len(set().union(*keys)) == 2500
    whole = write_case("parcels", "baseline", "csv", tmp_path / "whole", rows=2500)
    lines = b"".join(p.read_bytes().split(b"\n", 1)[1] for p in paths)
    assert lines == whole.read_bytes().split(b"\n", 1)[1]


@pytest.mark.parametrize(
    ("limit", "per_ingestion_max", "message"),
    [
        (0, 10, "limit must be between 1"),
        (10, 0, "per_ingestion_max must be between 1"),
        (-5, 10, "limit must be between 1"),
        (1_000_001, 10, "limit must be between 1 and 1,000,000"),
        (10, 2_000_000, "per_ingestion_max must be between 1 and 1,000,000"),
        (True, 10, "limit must be an integer"),
        ("10", 10, "limit must be an integer"),
    ],
)
def test_seed_files_rejects_bad_limits_clearly(
    tmp_path: Path, limit: Any, per_ingestion_max: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        seed_files("parcels", tmp_path, limit=limit, per_ingestion_max=per_ingestion_max)
    assert not list(tmp_path.iterdir())


def test_unknown_dataset_or_case_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="expected one of parcels, edge_telemetry"):
        next(generate_rows("orders", "baseline", 5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown case"):
        next(generate_rows("parcels", "drift", 5))  # type: ignore[arg-type]


def test_cli_writes_all_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--rows", "20"]) == 0
    assert len(list(tmp_path.iterdir())) == 16
    assert main(["--out", str(tmp_path), "--rows", "0"]) == 2
    assert "rows must be between 1" in capsys.readouterr().err


@pytest.mark.samples
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the ../shared/samples handout is not beside this checkout")
def test_generated_columns_match_the_handout_samples() -> None:
    assert tuple(read_xlsx(SAMPLES / "parcels_baseline.xlsx").column_names) == PARCEL_COLUMNS
    header = (SAMPLES / "edge_telemetry_sample.csv").open(encoding="utf-8").readline().strip()
    assert tuple(header.split(",")) == EDGE_COLUMNS
