"""A file whose values cast to the known type without loss loads as if it were typed (real pipeline).

docs/SCHEMA_DRIFT.md, "Lossless casts": a CSV export of a workbook loads exactly like the workbook, and
JSON or Parquet values that arrive as text load under the contract's types; a lossy value stays drift.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from eventpulse.demo.generator import generate_rows, write_case
from eventpulse.quality.gate import CAST_FAILURE_TYPE
from eventpulse.states import Status
from tests.helpers import (
    artifacts,
    curated_columns,
    curated_count,
    ingest,
    schema_versions,
    set_contract_meta,
)

ROWS = 60
KEYS = {"parcels": "parcel_id", "edge_telemetry": "event_id"}
INTEGER_COLUMNS = ("year_built", "bedrooms", "building_sqft", "lot_sqft")


def exported_text(value: Any, *, gaps: bool) -> str:
    """One value as Excel or pandas write it to CSV: dates at midnight, integers with gaps as floats."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d 00:00:00")
    if isinstance(value, int) and gaps:
        return f"{value}.0"  # pandas reads an integer column with blanks as float64
    return str(value)


def write_export(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A CSV export of ``rows`` as a spreadsheet tool writes one."""
    names = list(rows[0])
    gaps = {n for n in names if any(r[n] is None for r in rows)}
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerows([exported_text(r[n], gaps=n in gaps) for n in names] for r in rows)
    return path


def as_text_records(rows: list[dict[str, Any]]) -> list[dict[str, str | None]]:
    """Every value as a string ("1999", "2024-01-05 00:00:00"), as many APIs and exporters send them."""
    return [{k: None if v is None else exported_text(v, gaps=False) for k, v in r.items()} for r in rows]


def write_text_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    records = as_text_records(rows)
    if path.suffix == ".json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif path.suffix == ".ndjson":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        names = list(records[0])
        columns = {n: pa.array([r[n] for r in records], pa.string()) for n in names}
        pq.write_table(pa.table(columns), path)
    return path


def curated_rows(services: Any, dataset: str) -> list[tuple[Any, ...]]:
    """Every curated row without its lineage columns, in key order."""
    names = [c for c in curated_columns(services, dataset) if not c.startswith("_")]
    columns = ", ".join(f'"{c}"' for c in names)
    with services.store.engine.connect() as conn:
        sql = f'SELECT {columns} FROM "curated_{dataset}" ORDER BY "{KEYS[dataset]}"'
        return [tuple(r) for r in conn.execute(text(sql))]


def type_changes(services: Any, ingestion_id: Any) -> list[dict[str, Any]]:
    changes = artifacts(services, ingestion_id)["drift"]["decision"]["changes"]
    return [c for c in changes if c["kind"] in ("type_widened", "type_incompatible")]


def test_csv_export_of_the_baseline_workbook_loads_exactly_like_the_workbook(services, tmp_path) -> None:
    workbook = write_case("parcels", "baseline", "xlsx", tmp_path, rows=ROWS)
    loaded = ingest(services, workbook, "parcels")
    assert loaded["status"] == Status.LOADED, loaded["error"]
    from_workbook = curated_rows(services, "parcels")
    types_from_workbook = curated_columns(services, "parcels")
    export = write_export(tmp_path / "parcels_export.csv", list(generate_rows("parcels", "baseline", ROWS)))
    assert "2024-" in export.read_text() and " 00:00:00," in export.read_text()

    row = ingest(services, export, "parcels")

    assert row["status"] == Status.LOADED, row["error"]
    assert type_changes(services, row["id"]) == []
    # Every value equals the workbook's, so no row is rewritten: each keeps the workbook's lineage.
    assert artifacts(services, row["id"])["load"]["unchanged"] == ROWS
    assert curated_count(services, "parcels", ingestion_id=row["id"]) == 0
    assert curated_rows(services, "parcels") == from_workbook
    assert curated_columns(services, "parcels") == types_from_workbook
    assert schema_versions(services, "parcels") == 1


@pytest.mark.parametrize("suffix", [".json", ".ndjson", ".parquet"])
@pytest.mark.parametrize("dataset", sorted(KEYS))
def test_values_sent_as_text_load_under_the_contract_types(services, tmp_path, dataset, suffix) -> None:
    rows = list(generate_rows(dataset, "baseline", ROWS))  # type: ignore[arg-type]
    path = write_text_file(tmp_path / f"{dataset}_as_text{suffix}", rows)

    row = ingest(services, path, dataset)

    # edge_telemetry quarantines type changes and parcels rejects them: LOADED means none was seen.
    assert row["status"] == Status.LOADED, row["error"]
    assert type_changes(services, row["id"]) == []
    assert curated_count(services, dataset) == ROWS
    typed = write_case(dataset, "baseline", "xlsx", tmp_path / "typed", rows=ROWS)  # type: ignore[arg-type]
    as_text = curated_rows(services, dataset)
    assert ingest(services, typed, dataset)["status"] == Status.LOADED
    assert curated_rows(services, dataset) == as_text


@pytest.mark.parametrize(
    ("column", "value", "after"),
    [
        ("year_built", "1955.5", "number"),  # a fraction cannot become an integer
        ("year_built", "01955", "string"),  # a leading zero is a code: the integer would lose it
        ("sale_date", "2024-01-05 10:30:00", "datetime"),  # a time of day cannot become a date
        ("sale_date", "2024-01-05T00:00:00-05:00", "datetime"),  # midnight in New York is 05:00 UTC
    ],
)
def test_a_value_that_would_lose_information_is_still_a_type_change(
    services, tmp_path, column, value, after
) -> None:
    rows = list(generate_rows("parcels", "baseline", ROWS))
    rows[3][column] = value
    path = write_export(tmp_path / "parcels_lossy.csv", rows)

    row = ingest(services, path, "parcels")

    assert row["status"] == Status.FAILED_DRIFT, row["error"]
    changed = [(c["column"], c["after"]) for c in type_changes(services, row["id"])]
    assert changed == [(column, after)]
    assert curated_count(services, "parcels") == 0


def test_a_lossy_value_under_allow_fails_the_gate_naming_it(services, tmp_path, contracts_dir) -> None:
    set_contract_meta(contracts_dir, "parcels", drift_policy={"type_changes": "allow"})
    rows = list(generate_rows("parcels", "baseline", ROWS))
    rows[3]["year_built"] = "1955.5"
    path = write_export(tmp_path / "parcels_lossy.csv", rows)

    row = ingest(services, path, "parcels")

    assert row["status"] == Status.FAILED_QUALITY, row["error"]
    report = artifacts(services, row["id"])["quality"]
    (failed,) = [r for r in report["results"] if r["expectation_type"] == CAST_FAILURE_TYPE]
    assert failed["kwargs"]["column"] == "year_built" and failed["failing_rows"] == [4]
    assert failed["sample_values"] == ["1955.5"]


def test_parquet_whole_floats_and_midnight_timestamps_load_as_integers_and_dates(services, tmp_path) -> None:
    rows = list(generate_rows("parcels", "baseline", ROWS))
    columns: dict[str, pa.Array] = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if name in INTEGER_COLUMNS:
            columns[name] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        elif name in ("sale_date", "recording_date"):
            stamps = [datetime(v.year, v.month, v.day) for v in values]
            columns[name] = pa.array(stamps, pa.timestamp("ms"))
        else:
            columns[name] = pa.array(values)
    path = tmp_path / "parcels_pandas.parquet"
    pq.write_table(pa.table(columns), path)

    row = ingest(services, path, "parcels")

    assert row["status"] == Status.LOADED, row["error"]
    assert type_changes(services, row["id"]) == []
    types = curated_columns(services, "parcels")
    assert (types["year_built"], types["sale_date"]) == ("bigint", "date")
