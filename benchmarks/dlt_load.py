"""One dlt load of a parcels CSV into Postgres with a merge on ``parcel_id``: run by bench_dlt.py.

It runs in the benchmark's own dlt virtual environment (requirements-dlt.txt), never in
the project's, and imports nothing of EventPulse. Timed from outside as a whole process.

Usage: python dlt_load.py {default,fastest,csv} FILE POSTGRES_URL PIPELINES_DIR

- ``default``: a resource yielding the rows as dicts (``csv.DictReader``), dlt's default loader file
  format for Postgres (``insert_values``).
- ``fastest``: a resource yielding pyarrow tables read from the CSV in blocks (``pyarrow.csv``; the
  code columns read as text, everything else inferred), with ``loader_file_format="parquet"``; dlt
  loads parquet into Postgres through ADBC (``adbc_ingest``, binary COPY) when
  ``adbc-driver-postgresql`` is installed.
- ``csv``: the same pyarrow tables with ``loader_file_format="csv"``, which dlt loads with ``COPY``: its
  other bulk path into Postgres, measured to know which of the two is the faster here.

It prints one JSON line, prefixed ``DLT_RESULT ``, with the file formats of the load jobs dlt ran (the
evidence of which path it took) and the rows dlt reports as normalized.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dlt

TABLE = "parcels"
DATASET = "dlt_bench"
BLOCK_BYTES = 16 << 20
"""pyarrow.csv block size: about 80k parcels rows per table yielded."""


def rows_as_dicts(path: str) -> Iterator[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


CODES = ("zip", "doc_number", "book", "page")
"""Codes that look like numbers: read as text, as the parcels contract types them. pyarrow would infer
``int64`` and turn the New Jersey zip ``07316`` into ``7316``."""


def rows_as_arrow(path: str) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in CODES}),
    )
    yield from reader


def credentials(url: str) -> str:
    """``url`` with a password: dlt refuses Postgres credentials without one, and a trust-auth server
    (the benchmark's) ignores whatever is sent."""
    parts = urlsplit(url)
    if parts.password is not None or "@" not in parts.netloc:
        return url
    user, host = parts.netloc.split("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user}:unused@{host}"))


def main(argv: list[str]) -> int:
    mode, path, url, pipelines_dir = argv
    rows = rows_as_dicts if mode == "default" else rows_as_arrow
    resource = dlt.resource(rows(path), name=TABLE, write_disposition="merge", primary_key="parcel_id")
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{mode}",
        destination=dlt.destinations.postgres(credentials=credentials(url)),
        dataset_name=DATASET,
        pipelines_dir=pipelines_dir,
    )
    formats = {
        "default": {},
        "fastest": {"loader_file_format": "parquet"},
        "csv": {"loader_file_format": "csv"},
    }
    options: dict[str, Any] = formats[mode]
    info = pipeline.run(resource, **options)
    ran = sorted(
        {
            job.job_file_info.file_format
            for package in info.load_packages
            for job in package.jobs["completed_jobs"]
            if job.job_file_info.table_name == TABLE
        }
    )
    failed = sum(len(package.jobs["failed_jobs"]) for package in info.load_packages)
    normalized = pipeline.last_trace.last_normalize_info
    row_counts = dict(normalized.row_counts) if normalized is not None else {}
    result = {
        "dlt_version": dlt.__version__,
        "mode": mode,
        "load_job_formats": ran,
        "failed_jobs": failed,
        "normalized_rows": row_counts.get(TABLE),
        "table": f"{DATASET}.{TABLE}",
    }
    print("DLT_RESULT " + json.dumps(result), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
