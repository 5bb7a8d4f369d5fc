"""The Great Expectations expectation types EventPulse accepts, and how each is evaluated in a stream (pure).

GX logs and drops expectation types it does not know; EventPulse refuses any type not listed here, so a
typo in a contract fails loudly instead of silently checking nothing.

Streaming classes:

- ``row``: a per-row condition; evaluated on every record batch, counts and failing rows are merged.
- ``columns``: needs whole columns (uniqueness, aggregates, ordering); the gate keeps only the columns
  it needs and evaluates once at the end.
- ``table``: needs only the row count or the column names; evaluated once at the end on a cheap frame.
"""

from __future__ import annotations

from typing import Literal

StreamClass = Literal["row", "columns", "table"]

SUPPORTED_EXPECTATIONS: dict[str, StreamClass] = {
    # row: column-map, column-pair-map and multicolumn-map conditions
    "expect_column_values_to_not_be_null": "row",
    "expect_column_values_to_be_null": "row",
    "expect_column_values_to_be_in_set": "row",
    "expect_column_values_to_not_be_in_set": "row",
    "expect_column_values_to_be_between": "row",
    "expect_column_values_to_match_regex": "row",
    "expect_column_values_to_not_match_regex": "row",
    "expect_column_values_to_match_regex_list": "row",
    "expect_column_values_to_not_match_regex_list": "row",
    "expect_column_values_to_match_strftime_format": "row",
    "expect_column_values_to_be_dateutil_parseable": "row",
    "expect_column_values_to_be_json_parseable": "row",
    "expect_column_value_lengths_to_be_between": "row",
    "expect_column_value_lengths_to_equal": "row",
    "expect_column_pair_values_a_to_be_greater_than_b": "row",
    "expect_column_pair_values_to_be_equal": "row",
    "expect_column_pair_values_to_be_in_set": "row",
    "expect_multicolumn_sum_to_equal": "row",
    "expect_select_column_values_to_be_unique_within_record": "row",
    # columns: cross-row conditions and column aggregates
    "expect_column_values_to_be_unique": "columns",
    "expect_compound_columns_to_be_unique": "columns",
    "expect_column_values_to_be_increasing": "columns",
    "expect_column_values_to_be_decreasing": "columns",
    "expect_column_value_z_scores_to_be_less_than": "columns",
    "expect_column_min_to_be_between": "columns",
    "expect_column_max_to_be_between": "columns",
    "expect_column_mean_to_be_between": "columns",
    "expect_column_median_to_be_between": "columns",
    "expect_column_sum_to_be_between": "columns",
    "expect_column_stdev_to_be_between": "columns",
    "expect_column_quantile_values_to_be_between": "columns",
    "expect_column_proportion_of_non_null_values_to_be_between": "columns",
    "expect_column_proportion_of_unique_values_to_be_between": "columns",
    "expect_column_unique_value_count_to_be_between": "columns",
    "expect_column_distinct_values_to_be_in_set": "columns",
    "expect_column_distinct_values_to_contain_set": "columns",
    "expect_column_distinct_values_to_equal_set": "columns",
    "expect_column_most_common_value_to_be_in_set": "columns",
    # table: row count and column names only
    "expect_table_row_count_to_be_between": "table",
    "expect_table_row_count_to_equal": "table",
    "expect_table_columns_to_match_set": "table",
    "expect_table_columns_to_match_ordered_list": "table",
    "expect_table_column_count_to_be_between": "table",
    "expect_table_column_count_to_equal": "table",
    "expect_column_to_exist": "table",
}

COLUMN_KWARGS: tuple[str, ...] = ("column", "column_A", "column_B", "column_list", "column_set")
"""Keyword arguments that name columns; every name in them must be declared in the contract."""

TABLE_ROW_COUNT_TYPES: frozenset[str] = frozenset(
    {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
)
"""``table`` expectations that need the row count; the other ``table`` ones need only column names."""


def stream_class_of(expectation_type: str) -> StreamClass | None:
    """The streaming class of a supported expectation type, or None when unsupported."""
    return SUPPORTED_EXPECTATIONS.get(expectation_type)
