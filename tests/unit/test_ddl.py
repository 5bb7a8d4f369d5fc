"""Curated table DDL planning: pure, no database."""

from __future__ import annotations

import pytest

from eventpulse.curate.ddl import (
    LINEAGE_COLUMNS,
    PG_TYPES,
    build_table_schema,
    curated_table_name,
    plan_table_changes,
    quote_ident,
)
from eventpulse.schema.model import LOGICAL_TYPES, Column, TableSchema

BASE = TableSchema.of([Column("id", "integer", False), Column("amount", "integer"), Column("day", "date")])


def test_curated_table_name_prefixes_short_dataset_names():
    assert curated_table_name("parcels") == "curated_parcels"
    assert curated_table_name("a" * 55) == "curated_" + "a" * 55


def test_curated_table_name_hashes_long_names_to_fit_63_bytes_without_collisions():
    first, second = curated_table_name("x" * 62 + "a"), curated_table_name("x" * 62 + "b")
    assert len(first) == len(second) == 63
    assert first != second
    assert first.startswith("curated_" + "x" * 46 + "_")


def test_curated_table_name_rejects_invalid_dataset_names():
    with pytest.raises(ValueError):
        curated_table_name("Bad-Name")


def test_pg_types_cover_every_logical_type():
    assert set(PG_TYPES) == set(LOGICAL_TYPES)
    assert PG_TYPES["datetime"] == "timestamptz"


def test_quote_ident_always_quotes_and_doubles_quotes():
    assert quote_ident("a") == '"a"'
    assert quote_ident('drop table x;--"') == '"drop table x;--"""'


@pytest.mark.parametrize("bad", ["", "a\x00b", "é" * 32])
def test_quote_ident_refuses_empty_nul_and_overlong_names(bad):
    with pytest.raises(ValueError):
        quote_ident(bad)


def test_create_has_typed_columns_lineage_columns_and_primary_key():
    [sql, trigger] = plan_table_changes("curated_t", BASE, ["id"], None)
    assert sql.startswith('CREATE TABLE "curated_t"')
    assert '"_row_hash" uuid,' in sql  # nullable: rows of types the hash does not cover have none
    assert trigger.startswith(
        'CREATE OR REPLACE TRIGGER eventpulse_row_hash_edited BEFORE UPDATE ON "curated_t"'
    )
    assert '"id" bigint NOT NULL' in sql
    assert '"amount" bigint,' in sql
    for name, pg_type in LINEAGE_COLUMNS:
        assert f'"{name}" {pg_type} NOT NULL' in sql
    assert 'PRIMARY KEY ("id")' in sql


def test_create_without_primary_key_has_no_key():
    [sql, _] = plan_table_changes("t", BASE, [], None)
    assert "PRIMARY KEY" not in sql


def test_unchanged_schema_plans_no_ddl():
    assert plan_table_changes("t", BASE, ["id"], BASE) == []


def test_null_typed_or_missing_columns_plan_no_type_change():
    target = TableSchema.of([Column("id", "integer", False), Column("amount", "null"), Column("day", "date")])
    assert plan_table_changes("t", target, ["id"], BASE) == []
    assert plan_table_changes("t", TableSchema.of(BASE.columns[:2]), ["id"], BASE) == []


def test_added_column_and_widened_types_share_one_alter():
    target = TableSchema.of(
        [
            Column("id", "integer", False),
            Column("amount", "number"),
            Column("day", "datetime"),
            Column("note", "string", False),
        ]
    )
    [sql] = plan_table_changes("t", target, ["id"], BASE)
    assert sql.startswith('ALTER TABLE "t" ')
    assert 'ADD COLUMN "note" text' in sql and "NOT NULL" not in sql
    assert 'ALTER COLUMN "amount" TYPE double precision USING CAST("amount" AS double precision)' in sql
    assert "AT TIME ZONE 'UTC'" in sql


def test_widening_to_string_renders_dates_in_iso_form():
    target = TableSchema.of(
        [Column("id", "integer", False), Column("amount", "string"), Column("day", "string")]
    )
    [sql] = plan_table_changes("t", target, ["id"], BASE)
    assert 'TYPE text USING CAST("amount" AS text)' in sql
    assert "to_char(\"day\", 'YYYY-MM-DD')" in sql


def test_relaxed_nullability_drops_not_null_but_never_on_the_key():
    current = TableSchema.of([Column("id", "integer", False), Column("v", "string", False)])
    target = TableSchema.of([Column("id", "integer", True), Column("v", "string", True)])
    assert plan_table_changes("t", target, ["id"], current) == [
        'ALTER TABLE "t" ALTER COLUMN "v" DROP NOT NULL'
    ]


def test_tightened_nullability_is_not_planned():
    current = TableSchema.of([Column("id", "integer", False), Column("v", "string", True)])
    target = TableSchema.of([Column("id", "integer", False), Column("v", "string", False)])
    assert plan_table_changes("t", target, ["id"], current) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [("number", "integer"), ("datetime", "date"), ("string", "integer"), ("boolean", "integer")],
)
def test_narrowing_is_refused(old, new):
    current = TableSchema.of([Column("id", "integer", False), Column("v", old)])
    target = TableSchema.of([Column("id", "integer", False), Column("v", new)])
    with pytest.raises(ValueError, match="narrow"):
        plan_table_changes("t", target, ["id"], current)


def test_lineage_column_names_are_reserved():
    target = TableSchema.of([Column("id", "integer"), Column("_source_row", "integer")])
    with pytest.raises(ValueError, match="lineage"):
        plan_table_changes("t", target, ["id"], None)


def test_primary_key_must_be_in_the_schema():
    with pytest.raises(ValueError, match="primary key"):
        plan_table_changes("t", BASE, ["missing"], None)


def test_table_schema_after_a_narrower_target_keeps_every_current_column():
    narrower = TableSchema.of([Column("id", "integer", False), Column("day", "datetime")])
    after = build_table_schema(narrower, ["id"], BASE)
    # amount stays (the table still has it), day is widened in place, nothing is forgotten.
    assert after == TableSchema.of(
        [Column("id", "integer", False), Column("amount", "integer"), Column("day", "datetime")]
    )
    assert plan_table_changes("t", after, ["id"], BASE) == plan_table_changes("t", narrower, ["id"], BASE)


def test_table_schema_after_appends_added_columns_nullable_and_keeps_the_key_not_null():
    current = TableSchema.of([Column("id", "integer", False), Column("qty", "integer", False)])
    target = TableSchema.of([Column("id", "integer", True), Column("note", "string", False)])
    after = build_table_schema(target, ["id"], current)
    assert after == TableSchema.of(
        [Column("id", "integer", False), Column("qty", "integer", True), Column("note", "string", True)]
    )
    # Planning again from the recorded schema changes nothing: the record is what the DDL left.
    assert plan_table_changes("t", target, ["id"], after) == []


def test_table_schema_after_a_null_typed_target_column_keeps_its_type():
    target = TableSchema.of([Column("id", "integer", False), Column("amount", "null"), Column("day", "date")])
    assert build_table_schema(target, ["id"], BASE) == BASE
    assert build_table_schema(BASE, ["id"], None) == BASE


def test_reconcile_takes_a_forgotten_column_the_table_has_under_the_planned_type() -> None:
    from eventpulse.curate.ddl import reconcile_recorded

    recorded = TableSchema.of([Column("id", "string", False)])
    target = TableSchema.of([Column("id", "string", False), Column("b", "integer"), Column("c", "date")])
    actual = {"id": "text", "b": "bigint", "c": "text", "_ingestion_id": "uuid"}
    reconciled = reconcile_recorded(recorded, actual, target)
    assert reconciled is not None and reconciled.names == ["id", "b"]  # c is text in the table, not date
    assert plan_table_changes("t", target, ["id"], reconciled) == ['ALTER TABLE "t" ADD COLUMN "c" date']
    assert reconcile_recorded(None, actual, target) is None
    assert reconcile_recorded(recorded, {}, target) is recorded
