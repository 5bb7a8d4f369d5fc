"""Row hashes against a real Postgres: a replay sends only the rows the table does not hold alike.

test_change_only_upsert.py runs every merge case with and without the skip; this file checks the
skip itself: which rows reach Postgres, what the stored hashes are, and where it must stand aside.
"""

from __future__ import annotations

import uuid

import numpy as np
import pg8000
import pytest

from eventpulse.adapters.postgres import curated
from eventpulse.adapters.postgres.curated import PgCuratedLoad
from eventpulse.curate.ddl import plan_table_changes
from eventpulse.curate.encode import prepare_batch
from eventpulse.curate.row_hash import as_uuid_text, row_hashes
from eventpulse.ports import LoadStats
from tests.integration.pg8000_support import connection, private_database
from tests.integration.test_change_only_upsert import SCHEMA, _batch, _lineage, _rows_of, _select

database = private_database("eventpulse_row_hash_test")
conn = connection()


@pytest.fixture
def table(conn: pg8000.Connection) -> str:
    name = f"curated_h_{uuid.uuid4().hex[:10]}"
    for sql in plan_table_changes(name, SCHEMA, ["id"], None):
        conn.run(sql)
    return name


def load(conn, table, columns, *, unique=True, exclude=(), first_row=1) -> tuple[LoadStats, PgCuratedLoad]:
    loader = PgCuratedLoad(conn, table, SCHEMA, ["id"], _lineage(), keys_verified_unique=unique)
    loader.start()
    loader.write(_batch(columns, first_row=first_row))
    return loader.finish(exclude_rows=exclude), loader


def sent(loader: PgCuratedLoad) -> int:
    return loader._rows_sent


def stored_hashes(conn, table) -> dict[int, str | None]:
    return {r[0]: r[1] for r in conn.run(f"SELECT id, replace(_row_hash::text, '-', '') FROM \"{table}\"")}


def expected_hashes(columns) -> dict[int, str]:
    batch = prepare_batch(_batch(columns), SCHEMA)
    text = as_uuid_text(*row_hashes(batch, SCHEMA.names)).to_pylist()
    return dict(zip(columns["id"], text, strict=True))


def test_every_row_is_written_with_its_hash_and_an_identical_replay_sends_nothing(conn, table):
    rows = _rows_of(300)
    first, _ = load(conn, table, rows)
    assert first.inserted == 300 and first.skipped == 0
    assert stored_hashes(conn, table) == expected_hashes(rows)
    before = _select(conn, table, "id, xmin::text, _ingestion_id::text")

    again, loader = load(conn, table, _rows_of(300))

    assert again == LoadStats(rows_staged=300, inserted=0, updated=0, unchanged=300, skipped=300)
    assert sent(loader) == 0 and loader.plan is None  # no row reached Postgres, no merge ran
    assert _select(conn, table, "id, xmin::text, _ingestion_id::text") == before


def test_only_changed_and_new_rows_are_sent_and_their_hashes_follow(conn, table):
    load(conn, table, _rows_of(1000))
    changed = _rows_of(1001)  # one new key
    for i in range(5, 1000, 100):
        changed["price"][i] = -7.0
    changed["ok"][999] = None if changed["ok"][999] is not None else True

    stats, loader = load(conn, table, changed)

    assert sent(loader) == 10 + 1 + 1
    assert (stats.inserted, stats.updated, stats.unchanged, stats.skipped) == (1, 11, 989, 989)
    assert stored_hashes(conn, table) == expected_hashes(changed)


def test_rows_without_a_hash_are_compared_by_the_merge_and_keep_their_versions(conn, table):
    load(conn, table, _rows_of(100))
    conn.run(f'UPDATE "{table}" SET _row_hash = NULL WHERE id < 50')  # rows from before 0012
    before = _select(conn, table, "id, xmin::text")

    stats, loader = load(conn, table, _rows_of(100))

    assert sent(loader) == 50
    assert (stats.updated, stats.unchanged, stats.skipped) == (0, 100, 50)
    assert _select(conn, table, "id, xmin::text") == before  # unchanged rows are not rewritten
    assert sum(h is None for h in stored_hashes(conn, table).values()) == 50


def test_a_row_edited_by_hand_loses_its_hash_so_a_replay_restores_it(conn, table):
    load(conn, table, _rows_of(20))
    before = stored_hashes(conn, table)
    conn.run(f"UPDATE \"{table}\" SET name = 'edited' WHERE id = 3")  # outside EventPulse

    hashes = stored_hashes(conn, table)
    assert hashes[3] is None and {k: v for k, v in hashes.items() if k != 3} == {
        k: v for k, v in before.items() if k != 3
    }
    restored, _ = load(conn, table, _rows_of(20))
    assert (restored.updated, restored.skipped) == (1, 19)
    assert _select(conn, table, "name")[3] == [_rows_of(20)["name"][3]]
    assert stored_hashes(conn, table) == before  # the replay wrote the row's hash back


def test_the_loads_own_updates_keep_the_new_hashes(conn, table):
    """The trigger runs only for an UPDATE that leaves the hash as it was: a load's never does."""
    load(conn, table, _rows_of(50))
    every = _rows_of(50)
    every["price"] = [-1.0] * 50
    for plan in ("on_conflict", "update"):
        loader = PgCuratedLoad(conn, table, SCHEMA, ["id"], _lineage(), keys_verified_unique=True)
        loader.forced_plan = plan  # type: ignore[misc]
        loader.start()
        loader.write(_batch(every))
        assert loader.finish().updated == 50
        assert stored_hashes(conn, table) == expected_hashes(every)
        every["price"] = [-2.0] * 50


def test_held_back_rows_among_the_skipped_ones_are_not_counted(conn, table):
    load(conn, table, _rows_of(10))
    changed = _rows_of(10)
    changed["price"][2] = 99.0  # _source_row 3: changed, and held back
    # _source_row 5 (id 4): unchanged, skipped, and held back

    stats, _ = load(conn, table, changed, exclude=[3, 5])

    assert stats == LoadStats(rows_staged=8, inserted=0, updated=0, unchanged=8, skipped=8)
    assert _select(conn, table, "price")[2] != [99.0]


def test_unverified_keys_are_not_skipped_so_the_last_occurrence_still_wins(conn, table):
    base = _rows_of(3)
    load(conn, table, base)
    repeated = {c: [*base[c], base[c][1]] for c in base}  # id 1 again, as loaded
    repeated["name"][1] = "changed first"  # ... after an occurrence that changes it

    stats, loader = load(conn, table, repeated, unique=False)

    assert stats.skipped == 0 and sent(loader) == 4
    assert _select(conn, table, "id, name")[1] == [1, base["name"][1]]  # the last occurrence


def test_a_table_too_large_to_fetch_is_merged_without_skipping(conn, table, monkeypatch):
    load(conn, table, _rows_of(50))
    conn.run(f'ANALYZE "{table}"')
    monkeypatch.setattr(curated, "PREDIFF_MAX_ROWS", 10)

    stats, loader = load(conn, table, _rows_of(50))

    assert sent(loader) == 50 and stats.skipped == 0 and stats.unchanged == 50


def test_the_table_hashes_are_read_back_exactly(conn, table):
    rows = _rows_of(257)
    load(conn, table, rows)
    loader = PgCuratedLoad(conn, table, SCHEMA, ["id"], _lineage(), keys_verified_unique=True)
    known = loader._fetch_known_hashes()
    assert known is not None and len(known) == 257
    h1, h2 = row_hashes(prepare_batch(_batch(rows), SCHEMA), SCHEMA.names)
    assert known.contains(h1, h2).all()
    assert not known.contains(h1 ^ np.uint64(1), h2).any()


def test_a_small_file_into_a_large_table_is_merged_without_fetching_the_hashes(conn, table):
    load(conn, table, _rows_of(3000))
    conn.run(f'ANALYZE "{table}"')
    small = {c: v[:20] for c, v in _rows_of(3000).items()}  # 20 rows, under 1/20 of the table
    small["price"][0] = -5.0

    stats, loader = load(conn, table, small)

    assert stats.skipped == 0 and sent(loader) == 20  # staged whole: the merge compares them
    assert (stats.updated, stats.unchanged) == (1, 19)
    assert stored_hashes(conn, table)[0] == expected_hashes(small)[0]  # and the changed row's hash follows

    large = {c: v[:500] for c, v in _rows_of(3000).items()}  # 500 rows: worth the fetch
    stats, loader = load(conn, table, large)
    assert stats.skipped == 499 and sent(loader) == 1  # row 0 differs from the table again


def test_a_load_without_any_batch_stages_nothing(conn, table):
    load(conn, table, _rows_of(10))
    loader = PgCuratedLoad(conn, table, SCHEMA, ["id"], _lineage(), keys_verified_unique=True)
    loader.start()
    assert loader.finish() == LoadStats(rows_staged=0, inserted=0, updated=0, unchanged=0)


def test_the_files_size_when_known_decides_the_fetch(conn, table, monkeypatch):
    """The pipeline passes the raw file's size: its first batch may be a small part of a large file."""
    load(conn, table, _rows_of(3000))
    heap = conn.run(f"SELECT pg_relation_size('\"{table}\"')")[0][0]
    few = {c: v[:10] for c, v in _rows_of(3000).items()}
    outcomes = {}
    monkeypatch.setattr(curated, "PREDIFF_MIN_BYTES", 0)  # this table is far smaller than a real one
    for label, size in (("small file", heap // 40), ("large file", heap // 10)):
        loader = PgCuratedLoad(
            conn, table, SCHEMA, ["id"], _lineage(), keys_verified_unique=True, source_bytes=size
        )
        loader.start()
        loader.write(_batch(few))  # the same 10-row first batch either way
        outcomes[label] = loader.finish().skipped
    assert outcomes == {"small file": 0, "large file": 10}


def test_a_file_under_a_megabyte_never_fetches(conn, table):
    load(conn, table, _rows_of(30))
    loader = PgCuratedLoad(
        conn,
        table,
        SCHEMA,
        ["id"],
        _lineage(),
        keys_verified_unique=True,
        source_bytes=curated.PREDIFF_MIN_BYTES - 1,
    )
    loader.start()
    loader.write(_batch(_rows_of(30)))
    assert loader.finish().skipped == 0
