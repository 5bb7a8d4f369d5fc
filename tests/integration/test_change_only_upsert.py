"""Change-only upserts against a real Postgres: a replay rewrites only the rows whose data changed."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pg8000
import pyarrow as pa
import pytest

from eventpulse.adapters.postgres.curated import PgCuratedLoad
from eventpulse.curate.ddl import plan_table_changes
from eventpulse.errors import LoadRefused
from eventpulse.ports import LineageValues, LoadStats
from eventpulse.schema.model import Column, TableSchema
from tests.integration.pg8000_support import connect, connection, private_database

DATABASE = "eventpulse_upsert_test"

SCHEMA = TableSchema.of(
    [
        Column("id", "integer", False),
        Column("name", "string"),
        Column("price", "number"),
        Column("at", "datetime"),
        Column("ok", "boolean"),
    ]
)
DATA = ("name", "price", "at", "ok")
LINEAGE = "_ingestion_id::text, _loaded_at, _source_sha256, _source_row, _contract_version"


database = private_database(DATABASE)
conn = connection()
PLANS = ("on_conflict", "update")


@pytest.fixture(autouse=True, params=PLANS)
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs under each merge plan: they must write the same rows."""
    monkeypatch.setattr(PgCuratedLoad, "forced_plan", request.param)
    return str(request.param)


@pytest.fixture(autouse=True, params=("row_hashes", "merge_only"))
def prediff(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """And with and without skipping the rows whose hash the table holds (``merge_only``: the table's
    hashes are not fetched, as for a table too large to fetch them): the same rows again."""
    if request.param == "merge_only":
        monkeypatch.setattr(PgCuratedLoad, "_fetch_known_hashes", lambda self: None)
    return str(request.param)


def counts(stats: LoadStats) -> LoadStats:
    """The stats less ``skipped`` (how many unchanged rows never reached the merge differs by path)."""
    return replace(stats, skipped=0)


@pytest.fixture
def table(conn: pg8000.Connection) -> str:
    name = f"curated_u_{uuid.uuid4().hex[:10]}"
    for sql in plan_table_changes(name, SCHEMA, ["id"], None):
        conn.run(sql)
    return name


def _lineage(sha: str = "ab" * 32, contract: str = "v1") -> LineageValues:
    return LineageValues(str(uuid.uuid4()), sha, contract, datetime.now(UTC))


def _rows_of(n: int) -> dict[str, list]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return {
        "id": list(range(n)),
        "name": [f"parcel {i} – ünïcødé ✓ 🚀" if i % 7 else None for i in range(n)],
        "price": [float("nan") if i % 11 == 0 else i * 1.5 for i in range(n)],
        "at": [start + timedelta(seconds=i, microseconds=i) for i in range(n)],
        "ok": [None if i % 5 == 0 else i % 2 == 0 for i in range(n)],
    }


def _batch(columns: dict[str, list], schema: TableSchema = SCHEMA, first_row: int = 1) -> pa.RecordBatch:
    types = {"integer": pa.int64(), "string": pa.string(), "number": pa.float64(), "boolean": pa.bool_()}
    arrays = [
        pa.array(columns[c.name], pa.timestamp("us", tz="UTC") if c.type == "datetime" else types[c.type])
        for c in schema
    ]
    rows = len(arrays[0])
    arrays.append(pa.array(range(first_row, first_row + rows), pa.int64()))
    return pa.record_batch(arrays, names=[*schema.names, "_source_row"])


def _load(
    conn: pg8000.Connection,
    table: str,
    batch: pa.RecordBatch,
    lineage: LineageValues,
    *,
    schema: TableSchema = SCHEMA,
    unique: bool = True,
    absent: frozenset[str] = frozenset(),
) -> LoadStats:
    load = PgCuratedLoad(conn, table, schema, ["id"], lineage, keys_verified_unique=unique, absent=absent)
    load.start()
    load.write(batch)
    return load.finish()


def _select(conn: pg8000.Connection, table: str, columns: str) -> list[list]:
    return [list(r) for r in conn.run(f'SELECT {columns} FROM "{table}" ORDER BY id')]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _rows_equal(left: list[list], right: list[list]) -> bool:
    return len(left) == len(right) and all(
        len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
        for x, y in zip(left, right, strict=True)
    )


def test_reloading_the_same_file_rewrites_nothing_and_keeps_lineage(conn, table):
    first = _lineage()
    _load(conn, table, _batch(_rows_of(200)), first)  # empty table: the direct COPY path
    before = _select(conn, table, f"id, xmin::text, ctid::text, {LINEAGE}")

    work_mem = conn.run("SHOW work_mem")

    stats = _load(conn, table, _batch(_rows_of(200)), _lineage(sha="cd" * 32, contract="v2"))

    assert counts(stats) == LoadStats(rows_staged=200, inserted=0, updated=0, unchanged=200)
    assert conn.run("SHOW work_mem") == work_mem  # the merge's own work_mem does not outlive it
    # The same row version (xmin, ctid) with the first load's lineage: nothing was rewritten.
    assert _select(conn, table, f"id, xmin::text, ctid::text, {LINEAGE}") == before
    assert {r[3] for r in before} == {first.ingestion_id}


def test_one_percent_changed_updates_exactly_those_rows_like_a_plain_load(conn, table):
    _load(conn, table, _batch(_rows_of(1000)), _lineage())
    changed = _rows_of(1000)
    changed_ids = set(range(3, 1000, 100))  # 10 rows: 1%
    for i in changed_ids:
        changed["price"][i] = -1.0 if i % 2 else changed["price"][i]
        changed["name"][i] = "renamed" if not i % 2 else changed["name"][i]
    changed["id"].append(1000)  # and one new key
    for column in DATA:
        changed[column].append(changed[column][0])
    replay = _lineage()

    stats = _load(conn, table, _batch(changed), replay)

    assert counts(stats) == LoadStats(rows_staged=1001, inserted=1, updated=10, unchanged=990)
    rewritten = conn.run(
        f'SELECT id FROM "{table}" WHERE _ingestion_id = CAST(:i AS uuid)', i=replay.ingestion_id
    )
    assert {r[0] for r in rewritten} == changed_ids | {1000}
    # Row for row, the data is what loading the second file into an empty table gives.
    plain = f"curated_plain_{uuid.uuid4().hex[:10]}"
    for sql in plan_table_changes(plain, SCHEMA, ["id"], None):
        conn.run(sql)
    _load(conn, plain, _batch(changed), _lineage())
    columns = "id, " + ", ".join(DATA)
    assert _rows_equal(_select(conn, table, columns), _select(conn, plain, columns))


def test_null_against_a_value_is_a_change_and_null_against_null_is_not(conn, table):
    base = {"id": [1, 2, 3, 4], "name": ["a", None, "c", None], "price": [1.0, None, 3.0, None]}
    base |= {"at": [None] * 4, "ok": [True, None, False, None]}
    _load(conn, table, _batch(base), _lineage())
    after = {"id": [1, 2, 3, 4], "name": [None, "b", "c", None], "price": [1.0, None, None, None]}
    after |= {"at": [None] * 4, "ok": [True, False, False, None]}
    replay = _lineage()

    stats = _load(conn, table, _batch(after), replay)

    assert counts(stats) == LoadStats(rows_staged=4, inserted=0, updated=3, unchanged=1)
    rows = _select(conn, table, "id, name, price, ok, _ingestion_id::text")
    assert [r[:4] for r in rows] == [
        [1, None, 1.0, True],
        [2, "b", None, False],
        [3, "c", None, False],
        [4, None, None, None],
    ]
    assert [r[4] == replay.ingestion_id for r in rows] == [True, True, True, False]


def test_nan_timestamps_and_unicode_compare_by_value(conn, table):
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    base = {
        "id": [1, 2, 3, 4, 5],
        "name": ["é", "é", "名前", "x", "x"],
        "price": [math.nan, math.nan, 1.0, 2.0, 0.0],
    }
    base |= {"at": [at] * 5, "ok": [True] * 5}
    _load(conn, table, _batch(base), _lineage())
    after = {
        "id": [1, 2, 3, 4, 5],
        # 2: the same letter decomposed (e + combining acute) is other text; 3: same text
        "name": ["é", "e\u0301", "名前", "x", "x"],
        # 1: NaN again is no change; 4: 2.0 -> NaN is one; 5: -0.0 equals 0.0 in Postgres
        "price": [math.nan, math.nan, 1.0, math.nan, -0.0],
        # 3: one microsecond later is a change; the others: the same instant
        "at": [at, at, at + timedelta(microseconds=1), at, at],
        "ok": [True] * 5,
    }
    replay = _lineage()

    stats = _load(conn, table, _batch(after), replay)

    assert counts(stats) == LoadStats(rows_staged=5, inserted=0, updated=3, unchanged=2)
    rows = _select(conn, table, "id, name, _ingestion_id::text")
    assert [r[2] == replay.ingestion_id for r in rows] == [False, True, True, True, False]
    assert rows[1][1] == "e\u0301"


def test_a_column_absent_from_the_file_is_neither_compared_nor_overwritten(conn, table):
    base = {"id": [1, 2], "name": ["a", "b"], "price": [1.0, 2.0], "at": [None, None], "ok": [True, True]}
    _load(conn, table, _batch(base), _lineage())
    # The file lacks "price" (the loader sends NULLs for it): row 1 is otherwise equal, row 2 differs.
    lacking = {
        "id": [1, 2],
        "name": ["a", "B"],
        "price": [None, None],
        "at": [None, None],
        "ok": [True, True],
    }
    replay = _lineage()

    stats = _load(conn, table, _batch(lacking), replay, absent=frozenset({"price"}))

    assert counts(stats) == LoadStats(rows_staged=2, inserted=0, updated=1, unchanged=1)
    rows = _select(conn, table, "id, name, price, _ingestion_id::text")
    assert [r[:3] for r in rows] == [[1, "a", 1.0], [2, "B", 2.0]]
    assert [r[3] == replay.ingestion_id for r in rows] == [False, True]


def test_a_file_of_keys_only_inserts_new_keys_and_leaves_the_rest(conn, table):
    keys_only = TableSchema.of([Column("id", "integer", False)])
    _load(conn, table, _batch(_rows_of(3)), _lineage())
    before = _select(conn, table, f"id, xmin::text, {LINEAGE}")

    stats = _load(conn, table, _batch({"id": [1, 2, 3]}, keys_only), _lineage(), schema=keys_only)

    assert counts(stats) == LoadStats(rows_staged=3, inserted=1, updated=0, unchanged=2)
    assert _select(conn, table, f"id, xmin::text, {LINEAGE}")[:3] == before


def test_unverified_repeated_keys_count_each_key_once(conn, table):
    base = _rows_of(3)
    _load(conn, table, _batch(base), _lineage())
    repeated = {c: [*base[c], base[c][1], base[c][2]] for c in base}
    repeated["name"][4] = "last wins"  # id 2 appears twice: the last one changes it

    stats = _load(conn, table, _batch(repeated), _lineage(), unique=False)

    assert counts(stats) == LoadStats(rows_staged=5, inserted=0, updated=1, unchanged=2)
    assert _select(conn, table, "id, name")[2] == [2, "last wins"]


def test_an_older_narrower_file_equal_after_conversion_is_unchanged(conn):
    wide = TableSchema.of([Column("id", "integer", False), Column("v", "string"), Column("n", "number")])
    narrow = TableSchema.of([Column("id", "integer", False), Column("v", "integer"), Column("n", "integer")])
    table = f"curated_w_{uuid.uuid4().hex[:10]}"
    for sql in plan_table_changes(table, wide, ["id"], None):
        conn.run(sql)
    _load(
        conn, table, _batch({"id": [1, 2], "v": ["42", "7"], "n": [3.0, 4.0]}, wide), _lineage(), schema=wide
    )

    stats = _load(
        conn, table, _batch({"id": [1, 2], "v": [42, 8], "n": [3, 4]}, narrow), _lineage(), schema=narrow
    )

    assert counts(stats) == LoadStats(rows_staged=2, inserted=0, updated=1, unchanged=1)
    assert _select(conn, table, "id, v, n") == [[1, "42", 3.0], [2, "8", 4.0]]


def _mixed_replay(n: int) -> dict[str, list]:
    """``_rows_of(n)`` with a third of the rows changed (NULLs both ways included) and 10 new keys."""
    rows = _rows_of(n)
    for i in range(0, n, 3):
        rows["price"][i] = None if i % 2 else -float(i)
        rows["name"][i] = None if i % 4 == 0 else f"renamed {i}"
    for column, values in _rows_of(n + 10).items():
        rows[column].extend(values[n:])
    return rows


def _table_like(conn: pg8000.Connection) -> str:
    name = f"curated_p_{uuid.uuid4().hex[:10]}"
    for sql in plan_table_changes(name, SCHEMA, ["id"], None):
        conn.run(sql)
    return name


def test_both_plans_leave_the_same_table_row_for_row_lineage_included(conn):
    first, replay = _lineage(), _lineage(sha="ee" * 32, contract="v3")
    results = {}
    for plan in PLANS:
        table = _table_like(conn)
        _load(conn, table, _batch(_rows_of(600)), first)
        load = PgCuratedLoad(conn, table, SCHEMA, ["id"], replay, keys_verified_unique=True)
        load.forced_plan = plan  # type: ignore[misc]
        load.start()
        load.write(_batch(_mixed_replay(600)))
        results[plan] = (load.finish(), _select(conn, table, f"id, {', '.join(DATA)}, {LINEAGE}"))
        assert load.plan == plan

    (stats, rows), (other_stats, other_rows) = results.values()
    assert counts(stats) == counts(other_stats) == LoadStats(610, inserted=10, updated=200, unchanged=400)
    assert _rows_equal(rows, other_rows)
    # Changed and new rows carry the replay's lineage, the others the first load's.
    by_id = {r[0]: r[5] for r in rows}
    assert {i for i, ingestion in by_id.items() if ingestion == replay.ingestion_id} == {
        *range(0, 600, 3),
        *range(600, 610),
    }
    assert {by_id[i] for i in range(1, 600, 3)} == {first.ingestion_id}


def test_a_sample_of_the_staged_rows_picks_the_plan(conn, monkeypatch):
    monkeypatch.setattr(PgCuratedLoad, "forced_plan", None)
    picked = {}
    for label, every in (("few", 100), ("most", 1)):
        table = _table_like(conn)
        _load(conn, table, _batch(_rows_of(5000)), _lineage())
        # Rows from before row hashes (migration 0012): every row is staged, the sample sees them all.
        conn.run(f'UPDATE "{table}" SET _row_hash = NULL')
        rows = _rows_of(5000)
        for i in range(0, 5000, every):
            rows["price"][i] = -1.0 - i
        load = PgCuratedLoad(conn, table, SCHEMA, ["id"], _lineage(), keys_verified_unique=True)
        load.start()
        load.write(_batch(rows))
        stats = load.finish()
        assert stats.updated == 5000 // every
        picked[label] = load.plan
    assert picked == {"few": "on_conflict", "most": "update"}


def test_a_failure_inside_the_merge_leaves_the_table_as_before(conn, table):
    _load(conn, table, _batch(_rows_of(50)), _lineage())
    conn.commit()
    before = _select(conn, table, f"id, xmin::text, {', '.join(DATA)}, {LINEAGE}")
    # New keys only fail once the merge inserts them: after the plan's update of the changed rows.
    conn.run(f'ALTER TABLE "{table}" ADD CONSTRAINT few_keys CHECK (id < 50)')
    conn.commit()
    replay = _mixed_replay(50)

    with pytest.raises(LoadRefused, match="breaks a constraint"):
        _load(conn, table, _batch(replay), _lineage())
    conn.rollback()

    assert _rows_equal(_select(conn, table, f"id, xmin::text, {', '.join(DATA)}, {LINEAGE}"), before)


def test_a_concurrent_reader_sees_the_old_rows_until_commit_then_all_the_new_ones(conn, database, table):
    _load(conn, table, _batch(_rows_of(300)), _lineage())
    conn.commit()
    reader = connect(database, autocommit=True)
    try:
        old = _select(reader, table, f"id, {', '.join(DATA)}")
        replay = _lineage()
        stats = _load(conn, table, _batch(_mixed_replay(300)), replay)  # merged, not committed
        assert stats.updated == 100

        # Not blocked by the load's lock, and not half of it: the rows as they were.
        assert _rows_equal(_select(reader, table, f"id, {', '.join(DATA)}"), old)
        conn.commit()

        after = reader.run(
            f'SELECT count(*), count(*) FILTER (WHERE _ingestion_id = CAST(:i AS uuid)) FROM "{table}"',
            i=replay.ingestion_id,
        )
        assert [list(r) for r in after] == [[310, 110]]
    finally:
        reader.close()
