"""Parse contract files and find them in the contracts folder (no Great Expectations import here).

``parse_contract`` is pure: bytes in, a validated ``Contract`` out, or a ``ContractError`` that names the
dataset, the offending key and the fix. ``load_contract`` and ``list_contracts`` only read the folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from eventpulse.contracts.expectation_types import SUPPORTED_EXPECTATIONS
from eventpulse.contracts.marts import MartSpec, MartSpecError, parse_marts
from eventpulse.contracts.model import (
    ROW_FAILURES,
    SEVERITIES,
    Contract,
    Expectation,
    RowFailure,
    Severity,
)
from eventpulse.errors import ContractError, EventPulseError
from eventpulse.schema.drift import DriftPolicy
from eventpulse.schema.model import LOGICAL_TYPES, Column, LogicalType, TableSchema
from eventpulse.schema.naming import normalize_column_name

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SUITE_KEYS = frozenset({"name", "id", "expectations", "meta", "notes", "suite_parameters"})
EXPECTATION_KEYS = frozenset({"type", "kwargs", "meta", "id", "notes", "description", "severity"})
EVENTPULSE_KEYS = frozenset(
    {"primary_key", "columns", "drift_policy", "sheet", "marts", "renames", "on_row_failure"}
)
COLUMN_SPEC_KEYS = frozenset({"type", "nullable", "description"})
DECLARABLE_TYPES = tuple(t for t in LOGICAL_TYPES if t != "null")
RESERVED_KWARGS = frozenset({"result_format", "catch_exceptions"})


def list_contracts(contracts_dir: Path) -> list[str]:
    """Dataset names that have a contract file, sorted."""
    if not contracts_dir.is_dir():
        return []
    return sorted(p.stem for p in contracts_dir.glob("*.json") if DATASET_NAME.match(p.stem))


def load_contract(contracts_dir: Path, dataset: str) -> Contract:
    """Read and parse ``contracts_dir/<dataset>.json``; ContractError when missing or invalid."""
    ensure_dataset_name(dataset)
    path = contracts_dir / f"{dataset}.json"
    if not path.is_file():
        known = ", ".join(list_contracts(contracts_dir)) or "none"
        raise ContractError(
            f"no contract for dataset {dataset!r}: add contracts/{dataset}.json",
            hint=f"datasets with a contract: {known}",
            details={"dataset": dataset, "known_datasets": list_contracts(contracts_dir)},
        )
    return parse_contract(dataset, path.read_bytes())


def ensure_dataset_name(dataset: str) -> None:
    if not DATASET_NAME.match(dataset):
        raise ContractError(
            f"invalid dataset name {dataset!r}",
            hint="use 1-63 characters: a lowercase letter, then lowercase letters, digits or '_'",
            details={"dataset": dataset},
        )


def parse_contract(dataset: str, raw: bytes) -> Contract:
    """Validate a GX ExpectationSuite JSON with EventPulse metadata and build a Contract."""
    ensure_dataset_name(dataset)
    return parse_suite(dataset, _parse_json(dataset, raw))


def contract_version(suite: Mapping[str, Any]) -> str:
    """The content hash of a suite: sha256 of its canonical JSON (sorted keys, no spaces).

    Re-indenting the file or reordering keys is not a new version; any change of content is. The same
    suite saved through the API and written to the file has the same version.
    """
    canonical = json.dumps(suite, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_suite(dataset: str, suite: Any) -> Contract:
    """Validate an already-decoded suite (an API body, a stored version) and build a Contract."""
    ensure_dataset_name(dataset)
    suite = _check_suite(dataset, suite)
    ep = _eventpulse_meta(dataset, suite)
    schema = _parse_columns(dataset, ep.get("columns"))
    primary_key = _parse_primary_key(dataset, ep.get("primary_key"), schema)
    default = _parse_row_failure(dataset, "meta.eventpulse.on_row_failure", ep.get("on_row_failure"))
    expectations = _parse_expectations(dataset, suite.get("expectations", []), schema, default)
    _ensure_declarations_enforced(dataset, expectations, schema, primary_key)
    return Contract(
        dataset=dataset,
        version=contract_version(suite),
        suite=suite,
        schema=schema,
        primary_key=primary_key,
        drift_policy=_parse_drift_policy(dataset, ep.get("drift_policy")),
        expectations=expectations,
        sheet=_parse_sheet(dataset, ep.get("sheet")),
        marts=_parse_marts(dataset, ep.get("marts")),
        renames=_parse_renames(dataset, ep.get("renames"), schema),
        on_row_failure=default,
    )


def _parse_marts(dataset: str, value: Any) -> tuple[MartSpec, ...]:
    try:
        return parse_marts(value)
    except MartSpecError as exc:
        raise _fail(dataset, exc.key, exc.problem, exc.fix) from exc


def _fail(dataset: str, key: str, problem: str, fix: str) -> ContractError:
    return ContractError(
        f"contract {dataset!r}: {key}: {problem}; fix: {fix}",
        hint=fix,
        details={"dataset": dataset, "key": key},
    )


def _parse_json(dataset: str, raw: bytes) -> dict[str, Any]:
    try:
        suite = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(dataset, "<file>", f"not valid UTF-8 JSON ({exc})", "fix the JSON syntax") from exc
    return _check_suite(dataset, suite)


def _check_suite(dataset: str, suite: Any) -> dict[str, Any]:
    if not isinstance(suite, dict):
        raise _fail(dataset, "<file>", "the top level is not an object", "write a GX ExpectationSuite object")
    unknown = sorted(set(suite) - SUITE_KEYS)
    if unknown:
        raise _fail(dataset, unknown[0], "unknown suite key", f"use only: {', '.join(sorted(SUITE_KEYS))}")
    if suite.get("name") != dataset:
        raise _fail(dataset, "name", f"is {suite.get('name')!r}", f'set "name": "{dataset}" (the file name)')
    if not isinstance(suite.get("expectations", []), list):
        raise _fail(dataset, "expectations", "is not a list", "write a list of {type, kwargs, meta} objects")
    return suite


def _eventpulse_meta(dataset: str, suite: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = suite.get("meta")
    ep = meta.get("eventpulse") if isinstance(meta, dict) else None
    if not isinstance(ep, dict):
        raise _fail(dataset, "meta.eventpulse", "missing", "add meta.eventpulse with columns and primary_key")
    unknown = sorted(set(ep) - EVENTPULSE_KEYS)
    if unknown:
        raise _fail(
            dataset,
            f"meta.eventpulse.{unknown[0]}",
            "unknown key",
            f"remove it; known keys: {', '.join(sorted(EVENTPULSE_KEYS))}",
        )
    return ep


def _parse_columns(dataset: str, spec: Any) -> TableSchema:
    if not isinstance(spec, dict) or not spec:
        raise _fail(
            dataset,
            "meta.eventpulse.columns",
            "missing or empty",
            'declare every column: {"name": {"type": "string", "nullable": true}}',
        )
    return TableSchema(tuple(_parse_column(dataset, name, value) for name, value in spec.items()))


def _parse_column(dataset: str, name: str, value: Any) -> Column:
    key = f"meta.eventpulse.columns.{name}"
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, dict):
        raise _fail(
            dataset, key, "is neither a type name nor an object", 'write {"type": ..., "nullable": ...}'
        )
    unknown = sorted(set(value) - COLUMN_SPEC_KEYS)
    if unknown:
        raise _fail(dataset, f"{key}.{unknown[0]}", "unknown key", "use only: description, nullable, type")
    if value.get("type") not in DECLARABLE_TYPES:
        raise _fail(
            dataset,
            f"{key}.type",
            f"invalid logical type {value.get('type')!r}",
            f"use one of: {DECLARABLE_TYPES}",
        )
    nullable = value.get("nullable", True)
    if not isinstance(nullable, bool):
        raise _fail(dataset, f"{key}.nullable", f"is {nullable!r}", "use true or false")
    return Column(name, cast(LogicalType, value["type"]), nullable)


def _parse_primary_key(dataset: str, value: Any, schema: TableSchema) -> tuple[str, ...]:
    key = "meta.eventpulse.primary_key"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(dataset, key, "missing or not a list of column names", 'write "primary_key": ["id"]')
    for name in value:
        column = schema.get(name)
        if column is None:
            raise _fail(dataset, key, f"column {name!r} is not declared", f"declare {name!r} under columns")
        if column.nullable:
            raise _fail(dataset, key, f"column {name!r} is nullable", f"set columns.{name}.nullable to false")
    if len(set(value)) != len(value):
        raise _fail(dataset, key, "repeats a column", "list each key column once")
    return tuple(value)


def _parse_drift_policy(dataset: str, value: Any) -> DriftPolicy:
    try:
        return DriftPolicy.from_meta(value)
    except (ValueError, TypeError, KeyError, EventPulseError) as exc:
        message = exc.message if isinstance(exc, EventPulseError) else str(exc)
        raise _fail(
            dataset,
            "meta.eventpulse.drift_policy",
            message,
            exc.hint
            if isinstance(exc, EventPulseError) and exc.hint
            else "use a mode (allow, warn, evolve, freeze, fail, discard_row, discard_value, quarantine)"
            " or a mapping of new_columns/removed_columns/type_changes/nullability to modes",
        ) from exc


def _parse_sheet(dataset: str, value: Any) -> str | int | None:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _fail(dataset, "meta.eventpulse.sheet", f"is {value!r}", "use a sheet name or a 0-based index")


def _parse_renames(dataset: str, value: Any, schema: TableSchema) -> dict[str, str]:
    """``{name in files: known column}``: a file's column read as the known column it was renamed from.

    A target that is not declared must be a column the dataset's history knows; the processor checks
    that against the history (this parser reads no storage).
    """
    key = "meta.eventpulse.renames"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(dataset, key, "is not an object", 'write {"<column in files>": "<known column>"}')
    for name, target in value.items():
        entry = f"{key}.{name}"
        for what, text in (("the file's column", name), ("the known column", target)):
            if not isinstance(text, str) or normalize_column_name(text, 0) != text:
                shown = normalize_column_name(text, 0) if isinstance(text, str) else "a column name"
                raise _fail(
                    dataset,
                    entry,
                    f"{what} {text!r} is not a column name as EventPulse reads it",
                    f"write it as {shown!r} (headers are normalized: docs/SCHEMA_DRIFT.md, Column names)",
                )
        if name == target:
            raise _fail(dataset, entry, "maps a column to itself", "remove the entry")
        if schema.get(name) is not None:
            raise _fail(
                dataset,
                entry,
                f"{name!r} is a declared column",
                "a declared column is loaded as itself; rename only a column the files call differently",
            )
        if target in value:
            raise _fail(dataset, entry, f"{target!r} is itself renamed", "map straight to the final column")
    return dict(value)


def _parse_expectations(
    dataset: str, items: list[Any], schema: TableSchema, default: RowFailure
) -> tuple[Expectation, ...]:
    parsed = tuple(_parse_expectation(dataset, i, item, schema, default) for i, item in enumerate(items))
    if default == "quarantine" and not any(e.quarantines for e in parsed):
        raise _fail(
            dataset,
            "meta.eventpulse.on_row_failure",
            "is quarantine, but no expectation can hold a row back",
            "quarantine applies to row-level expectations (expect_column_values_to_...) that are not "
            "critical with mostly 1; give one a mostly below 1 (e.g. 0.95), or remove the key",
        )
    return parsed


def _parse_row_failure(dataset: str, key: str, value: Any) -> RowFailure:
    if value is None:
        return "fail_file"
    if value not in ROW_FAILURES:
        raise _fail(dataset, key, f"invalid value {value!r}", f"use one of: {', '.join(ROW_FAILURES)}")
    return cast(RowFailure, value)


def _decide_row_failure(dataset: str, key: str, expectation: Expectation, default: RowFailure) -> RowFailure:
    # An explicit per-expectation choice must make sense; the dataset default applies where it can.
    explicit = expectation.meta.get("on_row_failure")
    chosen = _parse_row_failure(dataset, f"{key}.meta.on_row_failure", explicit) if explicit else default
    if chosen == "fail_file":
        return chosen
    mostly = expectation.kwargs.get("mostly", 1)
    all_must_pass = expectation.severity == "critical" and (
        not isinstance(mostly, int | float) or float(mostly) >= 1
    )
    if expectation.stream_class != "row":
        if explicit is None:
            return "fail_file"
        raise _fail(
            dataset,
            f"{key}.meta.on_row_failure",
            f"{expectation.type} judges whole columns or the table, so no single row fails it",
            "only row-level expectations (expect_column_values_to_..., column pairs, multicolumn) "
            "can quarantine; use fail_file here",
        )
    if all_must_pass:
        if explicit is None:
            return "fail_file"
        raise _fail(
            dataset,
            f"{key}.meta.on_row_failure",
            "is quarantine on a critical expectation with mostly 1, which says every row must pass",
            "set kwargs.mostly below 1 (e.g. 0.95: the file fails when more than 5% of rows fail, "
            "otherwise the failing rows are held back), or use fail_file",
        )
    return chosen


def _parse_expectation(
    dataset: str, index: int, item: Any, schema: TableSchema, default: RowFailure = "fail_file"
) -> Expectation:
    key = f"expectations[{index}]"
    if not isinstance(item, dict):
        raise _fail(dataset, key, "is not an object", "write {type, kwargs, meta}")
    unknown = sorted(set(item) - EXPECTATION_KEYS)
    if unknown:
        raise _fail(
            dataset, f"{key}.{unknown[0]}", "unknown key", f"use only: {', '.join(sorted(EXPECTATION_KEYS))}"
        )
    etype = item.get("type")
    if etype not in SUPPORTED_EXPECTATIONS:
        raise _fail(
            dataset,
            f"{key}.type",
            f"unsupported expectation type {etype!r}",
            f"use one of the supported types: {', '.join(sorted(SUPPORTED_EXPECTATIONS))}",
        )
    kwargs, meta = item.get("kwargs", {}), item.get("meta", {})
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise _fail(dataset, key, "kwargs and meta must be objects", "write kwargs: {...}, meta: {...}")
    reserved = sorted(RESERVED_KWARGS & set(kwargs))
    if reserved:
        raise _fail(dataset, f"{key}.kwargs.{reserved[0]}", "is set by EventPulse", "remove it")
    expectation = Expectation(etype, kwargs, _parse_severity(dataset, key, item, meta), meta)
    for name in expectation.columns:
        if schema.get(name) is None:
            raise _fail(dataset, key, f"{etype} names undeclared column {name!r}", "declare it under columns")
    on_row_failure = _decide_row_failure(dataset, key, expectation, default)
    return Expectation(etype, kwargs, expectation.severity, meta, on_row_failure)


def _parse_severity(dataset: str, key: str, item: Mapping[str, Any], meta: Mapping[str, Any]) -> Severity:
    # GX 1.x has its own top-level ``severity``; EventPulse also reads ``meta.severity``. Both may be
    # present (a suite saved by GX writes the top-level one) but must agree.
    found = {v for v in (item.get("severity"), meta.get("severity")) if v is not None}
    if len(found) > 1:
        raise _fail(dataset, f"{key}.severity", f"conflicting values {sorted(found)}", "keep one of them")
    severity = found.pop() if found else "critical"
    if severity not in SEVERITIES:
        raise _fail(
            dataset, f"{key}.meta.severity", f"invalid severity {severity!r}", f"use one of: {SEVERITIES}"
        )
    return cast(Severity, severity)


def _ensure_declarations_enforced(
    dataset: str, expectations: tuple[Expectation, ...], schema: TableSchema, primary_key: tuple[str, ...]
) -> None:
    # A declaration nobody checks is a promise nobody keeps: the primary key must be guarded by a critical
    # uniqueness expectation and every non-nullable column by a critical not-null expectation.
    critical = [e for e in expectations if e.severity == "critical" and e.kwargs.get("mostly", 1) == 1]
    if not any(_guards_key(e, primary_key) for e in critical):
        example = (
            f'{{"type": "expect_column_values_to_be_unique", "kwargs": {{"column": "{primary_key[0]}"}}}}'
            if len(primary_key) == 1
            else '{"type": "expect_compound_columns_to_be_unique", '
            f'"kwargs": {{"column_list": {json.dumps(list(primary_key))}}}}}'
        )
        raise _fail(
            dataset, "meta.eventpulse.primary_key", "no critical uniqueness expectation", f"add {example}"
        )
    not_null = {e.kwargs.get("column") for e in critical if e.type == "expect_column_values_to_not_be_null"}
    for column in schema:
        if not column.nullable and column.name not in not_null:
            raise _fail(
                dataset,
                f"meta.eventpulse.columns.{column.name}.nullable",
                "declared false but no critical expect_column_values_to_not_be_null checks it",
                'add {"type": "expect_column_values_to_not_be_null", '
                f'"kwargs": {{"column": "{column.name}"}}}}',
            )


def _guards_key(expectation: Expectation, primary_key: tuple[str, ...]) -> bool:
    if expectation.type == "expect_column_values_to_be_unique":
        return (expectation.kwargs.get("column"),) == primary_key
    if expectation.type == "expect_compound_columns_to_be_unique":
        return sorted(expectation.kwargs.get("column_list") or []) == sorted(primary_key)
    return False
