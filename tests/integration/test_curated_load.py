"""CuratedLoad against a real, private Postgres database (never mocked)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from eventpulse.adapters.postgres.curated import PgCuratedLoad as CuratedLoad
from eventpulse.curate.ddl import plan_table_changes
from eventpulse.errors import TerminalError
from eventpulse.ports import LineageValues, LoadStats
from eventpulse.schema.model import Column, TableSchema
from tests.helpers import wait_until
from tests.integration.pg8000_support import connect, connection, private_database

DATABASE = "eventpulse_h3_test"
HELPER = Path(__file__).with_name("crash_load_helper.py")


database = private_database(DATABASE)
conn = connection()


@pytest.fixture
def table() -> str:
    return f"curated_t_{uuid.uuid4().hex[:10]}"


def _lineage(ingestion_id: str | None = None) -> LineageValues:
    return LineageValues(ingestion_id or str(uuid.uuid4()), "ab" * 32, "v1", datetime.now(UTC))


def _batch(schema: TableSchema, columns: dict[str, pa.Array | list], first_row: int = 1) -> pa.RecordBatch:
    arrays = [columns[name] for name in schema.names]
    rows = len(arrays[0])
    arrays.append(pa.array(range(first_row, first_row + rows), pa.int64()))
    return pa.record_batch(arrays, names=[*schema.names, "_source_row"])


def _apply(conn, table: str, target: TableSchema, pk: list[str], current: TableSchema | None) -> list[str]:
    statements = plan_table_changes(table, target, pk, current)
    for sql in statements:
        conn.run(sql)
    return statements


def _load(conn, table, schema, pk, *batches, unique=True, lineage=None) -> LoadStats:
    load = CuratedLoad(conn, table, schema, pk, lineage or _lineage(), keys_verified_unique=unique)
    load.start()
    for batch in batches:
        load.write(batch)
    return load.finish()


def _rows(conn, sql: str) -> list[list]:
    return [list(r) for r in conn.run(sql)]


SIMPLE = TableSchema.of([Column("id", "integer", False), Column("name", "string"), Column("qty", "integer")])


def test_first_load_inserts_and_reload_updates_counting_each(conn, table):
    _apply(conn, table, SIMPLE, ["id"], None)
    first = _load(
        conn,
        table,
        SIMPLE,
        ["id"],
        _batch(SIMPLE, {"id": [1, 2, 3], "name": ["a", "b", "c"], "qty": [1, 2, 3]}),
    )
    assert first == LoadStats(rows_staged=3, inserted=3, updated=0)
    second_id = str(uuid.uuid4())
    second = _load(
        conn,
        table,
        SIMPLE,
        ["id"],
        _batch(SIMPLE, {"id": [2, 3, 4, 5], "name": ["B", "C", "d", "e"], "qty": [20, 30, 40, 50]}),
        lineage=_lineage(second_id),
    )
    assert second.to_dict() == {"rows_staged": 4, "inserted": 2, "updated": 2, "unchanged": 0, "skipped": 0}
    rows = _rows(conn, f'SELECT id, name, qty, _ingestion_id::text, _source_row FROM "{table}" ORDER BY id')
    assert [r[:3] for r in rows] == [[1, "a", 1], [2, "B", 20], [3, "C", 30], [4, "d", 40], [5, "e", 50]]
    assert [r[3] == second_id for r in rows] == [False, True, True, True, True]
    assert [r[4] for r in rows] == [1, 1, 2, 3, 4]


def test_unverified_keys_keep_the_last_row_of_each_key(conn, table):
    _apply(conn, table, SIMPLE, ["id"], None)
    batch = _batch(SIMPLE, {"id": [1, 2, 1, 1], "name": ["x", "y", "z", "last"], "qty": [1, 2, 3, 4]})
    stats = _load(conn, table, SIMPLE, ["id"], batch, unique=False)
    assert stats == LoadStats(rows_staged=4, inserted=2, updated=0)
    assert _rows(conn, f'SELECT id, name, _source_row FROM "{table}" ORDER BY id') == [
        [1, "last", 4],
        [2, "y", 2],
    ]
    stats = _load(conn, table, SIMPLE, ["id"], batch, unique=False)  # non-empty target: the upsert path
    assert stats == LoadStats(rows_staged=4, inserted=0, updated=0, unchanged=2)


def test_table_without_primary_key_appends(conn, table):
    _apply(conn, table, SIMPLE, [], None)
    batch = _batch(SIMPLE, {"id": [1, 1], "name": ["a", "a"], "qty": [1, 1]})
    assert _load(conn, table, SIMPLE, [], batch).inserted == 2
    assert _load(conn, table, SIMPLE, [], batch).inserted == 2
    assert _rows(conn, f'SELECT count(*) FROM "{table}"') == [[4]]


def test_schema_change_adds_and_widens_columns_and_plans_ddl_only_when_changed(conn, table):
    v1 = TableSchema.of([Column("id", "integer", False), Column("amount", "integer"), Column("day", "date")])
    _apply(conn, table, v1, ["id"], None)
    _load(conn, table, v1, ["id"], _batch(v1, {"id": [1], "amount": [5], "day": [date(2024, 2, 29)]}))
    assert _apply(conn, table, v1, ["id"], v1) == []

    v2 = TableSchema.of(
        [
            Column("id", "integer", False),
            Column("amount", "number"),
            Column("day", "datetime"),
            Column("note", "string"),
        ]
    )
    assert len(_apply(conn, table, v2, ["id"], v1)) == 1
    assert _apply(conn, table, v2, ["id"], v2) == []
    types = dict(
        conn.run(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t", t=table
        )
    )
    assert types["amount"] == "double precision" and types["day"] == "timestamp with time zone"
    assert types["note"] == "text"
    ts = datetime(2024, 3, 1, 12, 30, 15, 123456)
    _load(conn, table, v2, ["id"], _batch(v2, {"id": [2], "amount": [1.5], "day": [ts], "note": ["n"]}))
    rows = _rows(conn, f'SELECT id, amount, day, note FROM "{table}" ORDER BY id')
    assert rows[0] == [1, 5.0, datetime(2024, 2, 29, tzinfo=UTC), None]
    assert rows[1] == [2, 1.5, ts.replace(tzinfo=UTC), "n"]


def test_older_narrower_file_loads_into_a_widened_table(conn, table):
    wide = TableSchema.of([Column("id", "integer", False), Column("v", "string"), Column("d", "datetime")])
    _apply(conn, table, wide, ["id"], None)
    narrow = TableSchema.of([Column("id", "integer", False), Column("v", "integer"), Column("d", "date")])
    _load(conn, table, narrow, ["id"], _batch(narrow, {"id": [1], "v": [42], "d": [date(2024, 1, 2)]}))
    assert _rows(conn, f'SELECT v, d FROM "{table}"') == [["42", datetime(2024, 1, 2, tzinfo=UTC)]]


HOSTILE = TableSchema.of(
    [
        Column("id", "integer", False),
        Column('drop table x;--"', "string"),
        Column("naïve 名前 with spaces", "string"),
        Column("%s :name $1", "number"),
        Column("flag", "boolean"),
        Column("day", "date"),
        Column("at", "datetime"),
        Column("empty", "null"),
    ]
)


def test_values_and_hostile_names_round_trip_exactly(conn, table):
    _apply(conn, table, HOSTILE, ["id"], None)
    texts = ["", None, 'say "hi", ok', "line1\nline2\r\nline3", "ünïcødé ✓ 🚀", "\\.", "\\N", "NULL", " , "]
    floats = [
        0.1,
        None,
        float("nan"),
        float("inf"),
        float("-inf"),
        -0.0,
        1e-300,
        123456789.123456789,
        2.0**60,
    ]
    n = len(texts)
    at = [
        datetime(2024, 1, 1, 23, 59, 59, 999999),
        None,
        datetime(1, 1, 1),
        *[datetime(2000, 6, 15)] * (n - 3),
    ]
    batch = _batch(
        HOSTILE,
        {
            "id": list(range(n)),
            'drop table x;--"': texts,
            "naïve 名前 with spaces": list(reversed(texts)),
            "%s :name $1": floats,
            "flag": [True, None, False] * 3,
            "day": [date(2024, 2, 29), None, date(1, 1, 1), *[date(9999, 12, 31)] * (n - 3)],
            "at": pa.array(at, pa.timestamp("us")),
            "empty": pa.nulls(n),
        },
    )
    assert _load(conn, table, HOSTILE, ["id"], batch).inserted == n
    names = ", ".join('"' + c.replace('"', '""') + '"' for c in HOSTILE.names)
    rows = _rows(conn, f'SELECT {names} FROM "{table}" ORDER BY id')
    assert [r[1] for r in rows] == texts
    assert [r[2] for r in rows] == list(reversed(texts))
    for got, want in zip([r[3] for r in rows], floats, strict=True):
        if want is None or math.isnan(want):
            assert got is None if want is None else math.isnan(got)
        else:
            assert got == want and math.copysign(1, got) == math.copysign(1, want)
    assert [r[4] for r in rows] == [True, None, False] * 3
    assert rows[0][5] == date(2024, 2, 29) and rows[1][5] is None
    assert [r[6] for r in rows] == [a if a is None else a.replace(tzinfo=UTC) for a in at]
    assert {r[7] for r in rows} == {None}


def test_nul_in_text_is_refused_before_anything_is_sent(conn, table):
    _apply(conn, table, SIMPLE, ["id"], None)
    load = CuratedLoad(conn, table, SIMPLE, ["id"], _lineage(), keys_verified_unique=True)
    load.start()
    with pytest.raises(TerminalError, match="NUL"):
        load.write(_batch(SIMPLE, {"id": [1], "name": ["a\x00b"], "qty": [1]}))


def test_rollback_leaves_no_rows_and_no_staging_table(conn, table):
    _apply(conn, table, SIMPLE, ["id"], None)
    conn.commit()
    _load(conn, table, SIMPLE, ["id"], _batch(SIMPLE, {"id": [1, 2], "name": ["a", "b"], "qty": [1, 2]}))
    conn.rollback()
    assert _rows(conn, f'SELECT count(*) FROM "{table}"') == [[0]]
    assert _rows(conn, "SELECT count(*) FROM pg_class WHERE relname LIKE 'eventpulse_stage_%'") == [[0]]


def test_load_runs_inside_a_sqlalchemy_transaction(database, table):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"postgresql+pg8000://postgres@127.0.0.1:5432/{database}")
    try:
        with engine.begin() as sa_conn:
            raw = sa_conn.connection.driver_connection
            _apply(raw, table, SIMPLE, ["id"], None)
            stats = _load(raw, table, SIMPLE, ["id"], _batch(SIMPLE, {"id": [7], "name": ["s"], "qty": [1]}))
            assert stats.inserted == 1
        with engine.connect() as sa_conn:
            assert sa_conn.execute(sqlalchemy.text(f'SELECT id FROM "{table}"')).scalar_one() == 7
    finally:
        engine.dispose()


def test_autocommit_connection_is_refused(database, table):
    conn = connect(database, autocommit=True)
    try:
        with pytest.raises(ValueError, match="autocommit"):
            CuratedLoad(conn, table, SIMPLE, ["id"], _lineage(), keys_verified_unique=True)
    finally:
        conn.close()


# --- crash safety -------------------------------------------------------------------------------------

CRASH_SCHEMA = TableSchema.of(
    [Column("id", "integer", False), Column("label", "string"), Column("score", "number")]
)
CRASH_ROWS = 400_000


def _backend_query(admin, pid: int) -> str | None:
    rows = admin.run("SELECT state, query FROM pg_stat_activity WHERE pid = :p", p=pid)
    return None if not rows else (rows[0][1] if rows[0][0] == "active" else "")


@pytest.mark.slow
# "INSERT INTO": the merge's second statement; its UPDATE has already rewritten both seed rows by then.
@pytest.mark.parametrize("phase", ["COPY ", "INSERT INTO"])
def test_sigkill_mid_load_leaves_nothing_and_a_rerun_succeeds(database, table, phase):
    setup = connect(database)
    _apply(setup, table, CRASH_SCHEMA, ["id"], None)
    seed = _batch(CRASH_SCHEMA, {"id": [0, 1], "label": ["seed", "seed"], "score": [0.0, 1.0]})
    _load(setup, table, CRASH_SCHEMA, ["id"], seed)  # non-empty target, so the merge is the upsert
    setup.commit()
    setup.close()

    crashed_id = str(uuid.uuid4())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), database, table, crashed_id, str(CRASH_ROWS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    admin = connect(database, autocommit=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first and first[0] == "pid", first
        backend = int(first[1])
        wait_until(
            lambda: (_backend_query(admin, backend) or "").startswith(phase),
            f"{phase!r} to run",
            timeout=60,
            interval=0.01,
            process=proc,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # The server aborts the orphaned transaction once it notices the client is gone.
        wait_until(
            lambda: _backend_query(admin, backend) is None,
            "the killed client's backend to exit",
            timeout=120,
            interval=0.01,
        )

        survivors = _rows(admin, f'SELECT count(*), min(label), max(label) FROM "{table}"')
        assert survivors == [[2, "seed", "seed"]]
        assert _rows(admin, f"SELECT count(*) FROM \"{table}\" WHERE _ingestion_id = '{crashed_id}'") == [[0]]
    finally:
        if proc.poll() is None:
            proc.kill()
        admin.close()

    rerun = connect(database)
    try:
        batch = _batch(CRASH_SCHEMA, {"id": range(0, 1000), "label": ["again"] * 1000, "score": [1.0] * 1000})
        stats = _load(rerun, table, CRASH_SCHEMA, ["id"], batch)
        rerun.commit()
        assert (stats.inserted, stats.updated) == (998, 2)
        assert _rows(rerun, f'SELECT count(*) FROM "{table}"') == [[1000]]
    finally:
        rerun.close()
