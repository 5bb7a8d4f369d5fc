"""A small contract and files for the row-level quarantine tests (real pipeline, real Postgres)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASET = "readings"


def write_readings_contract(
    contracts_dir: Path,
    *,
    mostly: float = 0.5,
    max_value: float = 100,
    on_row_failure: str = "quarantine",
    drift_policy: Any = None,
) -> Path:
    """``readings``: value in [0, max_value] and kind in a set, both quarantining with ``mostly``."""
    suite: dict[str, Any] = {
        "name": DATASET,
        "meta": {
            "eventpulse": {
                "primary_key": ["id"],
                "columns": {
                    "id": {"type": "string", "nullable": False},
                    "kind": "string",
                    "value": "number",
                },
            }
        },
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "value", "min_value": 0, "max_value": max_value, "mostly": mostly},
                "meta": {"on_row_failure": on_row_failure},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "kind", "value_set": ["a", "b"], "mostly": mostly},
                "meta": {"on_row_failure": on_row_failure},
            },
        ],
    }
    if drift_policy is not None:
        suite["meta"]["eventpulse"]["drift_policy"] = drift_policy
    path = contracts_dir / f"{DATASET}.json"
    path.write_text(json.dumps(suite, indent=2))
    return path


def write_csv(path: Path, rows: list[tuple[Any, ...]], header: str = "id,kind,value") -> Path:
    lines = [header, *(",".join("" if v is None else str(v) for v in r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD_AND_BAD = [
    ("r1", "a", 10),
    ("r2", "b", 250),  # value out of range -> held
    ("r3", "a", 30),
    ("r4", "zzz", 40),  # kind not in set -> held
    ("r5", "zzz", -5),  # both -> held, two failures
    ("r6", "b", 60),
    ("r7", "a", 70),
    ("r8", "b", 80),
]
"""Eight rows: five pass, three fail a quarantine expectation (row 5 fails both)."""
