"""Rename candidates: name similarity plus value fingerprints, and the cases that are not renames."""

import pyarrow as pa

from eventpulse.schema.renames import (
    MIN_SCORE,
    SAMPLE_VALUES,
    ColumnProfile,
    ProfileBuilder,
    find_rename_candidates,
    name_similarity,
    score_rename,
)


def built(kind, values):
    builder = ProfileBuilder()
    builder.feed(pa.array(values, pa.string()))
    return builder.build(kind)


PRICES = [str(100 + 7 * i) for i in range(50)] + [None] * 5


def test_same_values_under_a_similar_name_is_a_strong_candidate():
    old = ColumnProfile.from_row(
        "integer",
        {"rows": 55, "nulls": 5, "min_number": 100, "max_number": 443, "min_length": 3, "max_length": 3,
         "sample": [str(100 + 7 * i) for i in range(50)]},
    )  # fmt: skip
    candidate = score_rename("sale_price", old, "sale_price_usd", built("integer", PRICES))
    assert candidate is not None and candidate.strength == "strong" and candidate.score >= 0.8
    evidence = candidate.evidence
    assert evidence["sample_overlap"]["shared"] == 50 and evidence["range"]["known"] == [100.0, 443.0]
    assert evidence["null_rate"] == {"known": 0.091, "observed": 0.091}


def test_values_carry_a_rename_whose_name_changed_completely():
    old = built("integer", PRICES)
    candidate = score_rename("sale_price", old, "amt", built("integer", PRICES))
    assert candidate is not None and candidate.score >= MIN_SCORE


def test_a_similar_name_with_unrelated_values_is_not_a_candidate():
    old = built("integer", [str(i) for i in range(1, 7)])  # bedrooms 1..6
    new = built("integer", [str(1900 + i) for i in range(100)])  # years
    assert score_rename("bedrooms", old, "bedrooms_built", new) is None


def test_incompatible_types_are_never_a_candidate():
    old = built("boolean", ["true", "false"])
    new = built("date", ["2024-01-01"])
    assert score_rename("flag", old, "flag", new) is None


def test_without_curated_values_only_a_close_name_makes_a_candidate():
    empty = ColumnProfile("number", 0, 0)
    new = built("number", ["1.5", "2.5"])
    close = score_rename("amount", empty, "amount_eur", new)
    assert close is not None and "not compared" in close.evidence["values"]
    assert score_rename("amount", empty, "zzz", new) is None


def test_candidates_are_matched_one_to_one_best_first():
    prices, years = built("integer", PRICES), built("integer", [str(1900 + i) for i in range(60)])
    removed = {"price": prices, "year_built": years}
    added = {"price_usd": prices, "built_year": years}
    pairs = {(c.known, c.observed) for c in find_rename_candidates(removed, added)}
    assert pairs == {("price", "price_usd"), ("year_built", "built_year")}
    # Two new columns both resembling one missing column: only the better one is its candidate.
    one = find_rename_candidates({"price": prices}, {"price_usd": prices, "price_2": built("integer", ["5"])})
    assert [(c.known, c.observed) for c in one] == [("price", "price_usd")]


def test_numbers_spelled_differently_on_both_sides_are_one_value():
    old = ColumnProfile.from_row("number", {"rows": 2, "nulls": 0, "sample": ["1200", "3.5"]})
    assert old.sample == built("number", ["1200.00", "3.50"]).sample


def test_the_profile_sample_is_bounded():
    builder = ProfileBuilder()
    for start in range(0, 5000, 1000):
        builder.feed(pa.array([f"v{i}" for i in range(start, start + 1000)]))
    profile = builder.build("string")
    assert len(profile.sample) == SAMPLE_VALUES and profile.rows == 5000
    assert (profile.min_length, profile.max_length) == (2, 5) and profile.min_number is None


def test_name_similarity_counts_shared_words():
    assert name_similarity("year_built", "built_year") == 1.0
    assert name_similarity("amount", "zip") < 0.3
