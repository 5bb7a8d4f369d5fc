"""The streaming quality gate: feed typed record batches, get one QualityReport at the end.

Memory stays bounded by the batch size plus what ``columns`` expectations need: under the compiled
engine, uniqueness keeps an 8-byte hash per row and proportion-of-non-null two counters
(``quality/bounded.py``, key columns spilled to disk); the other ones keep their columns:
``row`` expectations run through GX on each batch and their counts and failing rows are merged;
``columns`` expectations run once at the end on only the columns they name (plus ``_source_row``);
``table`` expectations run at the end on a one-column frame (row count) or an empty frame (names).
Failing rows are always source row numbers, read from the batch's ``_source_row`` column.

Engines: with ``engine="compiled"`` (the default, ``EVENTPULSE_GATE_ENGINE``) every expectation that
``quality/compiled.py`` compiles is evaluated there with pyarrow, with GX's verdicts; the others run
through GX exactly as before. Each result says which engine ran it. A suite that compiles fully never
imports Great Expectations.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from eventpulse.contracts.expectation_types import TABLE_ROW_COUNT_TYPES
from eventpulse.contracts.model import Contract, Expectation, Severity
from eventpulse.quality import bounded, compiled
from eventpulse.quality.coalesce import is_unique_by_part, recall, recall_row_count

SOURCE_ROW = "_source_row"
CAST_FAILURE_TYPE = "eventpulse_values_match_declared_type"


@dataclass
class ExpectationResult:
    expectation_type: str
    kwargs: dict[str, Any]
    severity: Severity
    success: bool
    observed_value: Any
    unexpected_count: int
    """Rows that failed a row-level check; 0 for aggregates (see observed_value)."""
    unexpected_percent: float | None
    failing_rows: list[int]
    """1-based source data row numbers, at most ``max_failing_rows``."""
    sample_values: list[Any]
    exception: str | None = None
    """The error GX raised while evaluating (the expectation then fails)."""
    engine: str = "gx"
    """Which engine judged it: ``compiled`` (pyarrow, quality/compiled.py), ``gx`` (Great Expectations),
    or ``eventpulse`` (the cast check, which is EventPulse's own)."""

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = _jsonable(asdict(self))
        return body


@dataclass
class QualityReport:
    passed: bool
    results: list[ExpectationResult]
    rows_evaluated: int
    critical_failures: int
    warnings: int
    """Failing expectations of severity ``warning``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows_evaluated": self.rows_evaluated,
            "critical_failures": self.critical_failures,
            "warnings": self.warnings,
            "results": [r.to_dict() for r in self.results],
        }


@dataclass
class _RowTally:
    """Merged outcome of one ``row`` expectation across batches."""

    success: bool = True
    elements: int = 0
    missing: int = 0
    unexpected: int = 0
    failing_rows: list[int] = field(default_factory=list)
    samples: list[Any] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    every_failing_row: list[int] = field(default_factory=list)
    """All failing source rows, kept only for expectations that quarantine (ints: bounded memory)."""


def warm_up(contract: Contract | None = None, engine: str = "compiled") -> None:
    """Start loading Great Expectations in the background (see gx_runner.warm_up_in_background).

    Nothing to do when every expectation of ``contract`` compiles: GX will not be needed.
    """
    if contract is not None and not needs_gx(contract, engine):
        return
    from eventpulse.quality.gx_runner import warm_up_in_background

    warm_up_in_background()


def needs_gx(contract: Contract, engine: str = "compiled") -> bool:
    """True when some expectation of ``contract`` runs through Great Expectations under ``engine``."""
    if engine == "gx":
        return bool(contract.expectations)
    return not all(compiled.compiles(contract, i) for i in range(len(contract.expectations)))


DEFAULT_CHUNK_ROWS = 500_000
"""Rows per Great Expectations validation of the row checks (bounded memory, few fixed costs)."""


class QualityGate:
    """Evaluate a contract's expectations over a stream of record batches."""

    def __init__(
        self,
        contract: Contract,
        *,
        max_failing_rows: int = 20,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        held_rows_only: bool = False,
        engine: str = "compiled",
        hasher: bounded.Hasher | None = None,
        spill_dir: str | os.PathLike[str] | None = None,
    ):
        """``held_rows_only``: the rows are a replay of held rows, not a file (docs/CONTRACTS.md).

        Then only ``row`` expectations run (the file-wide ones judged the original file), and a
        quarantine expectation holds its failing rows back without failing: ``mostly`` judged the file.
        ``engine``: ``compiled`` or ``gx`` (see the module docstring).
        ``hasher`` and ``spill_dir``: the key hash and the directory of the spill file of the bounded
        whole-file checks (``quality/bounded.py``; defaults: its 64-bit hash, the system temp directory).
        """
        if engine not in compiled.ENGINES:
            raise ValueError(f"unknown gate engine {engine!r}: use one of {', '.join(compiled.ENGINES)}")
        self.contract = contract
        self.held_rows_only = held_rows_only
        self.max_failing_rows = max_failing_rows
        # Each GX validate call costs ~0.25 s of fixed graph building whatever the frame size, so
        # row checks run on chunks of about ``chunk_rows`` rows, not on every reader batch.
        self.chunk_rows = chunk_rows
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        by_class = _indices_by_class(contract.expectations)
        if held_rows_only:
            by_class["columns"], by_class["table"] = [], []
        self.engines: dict[int, str] = {
            i: "compiled" if engine == "compiled" and compiled.compiles(contract, i) else "gx"
            for indices in by_class.values()
            for i in indices
        }
        self._compiled_rows = [i for i in by_class["row"] if self.engines[i] == "compiled"]
        self._compiled_columns = [i for i in by_class["columns"] if self.engines[i] == "compiled"]
        # Uniqueness and proportion-of-non-null checks keep a hash per row and counters, not columns.
        bounded_indices = [
            i for i in self._compiled_columns if contract.expectations[i].type in bounded.BOUNDED_TYPES
        ]
        self._bounded = (
            bounded.BoundedChecks(contract, bounded_indices, hasher=hasher, spill_dir=spill_dir)
            if bounded_indices
            else None
        )
        self._compiled_counts = [i for i in by_class["table"] if self.engines[i] == "compiled"]
        by_class = {
            name: [i for i in indices if self.engines[i] == "gx"] for name, indices in by_class.items()
        }
        self._row_indices = by_class["row"]
        # Uniqueness checks run on their own, so that several small files can share their call.
        self._unique_indices = [i for i in by_class["columns"] if is_unique_by_part(contract, i)]
        self._column_indices = [i for i in by_class["columns"] if i not in self._unique_indices]
        self._count_indices = [
            i for i in by_class["table"] if contract.expectations[i].type in TABLE_ROW_COUNT_TYPES
        ]
        self._names_indices = [i for i in by_class["table"] if i not in self._count_indices]
        self._detail_runners: dict[tuple[tuple[int, ...], bool], Any] = {}
        self._runners = {
            name: _gx_runner(contract, indices, partial_count=max_failing_rows, with_rows=name != "row")
            for name, indices in (
                ("row", self._row_indices),
                ("unique", self._unique_indices),
                ("columns", self._column_indices),
                ("count", self._count_indices),
                ("names", self._names_indices),
            )
        }
        self._row_columns = _columns_of(contract, self._row_indices)
        self._unique_columns = _columns_of(contract, self._unique_indices)
        self._aggregate_columns = _columns_of(contract, self._column_indices)
        held = [i for i in self._compiled_columns if i not in bounded_indices]
        self._kept_columns = _columns_of(contract, [*self._unique_indices, *self._column_indices, *held])
        self._kept: dict[str, list[pa.Array]] = (
            {name: [] for name in [*self._kept_columns, SOURCE_ROW]} if self._kept_columns else {}
        )
        self._tallies = {i: _RowTally() for i in [*self._row_indices, *self._compiled_rows]}
        self._quarantine_indices = frozenset(
            i for i in [*self._row_indices, *self._compiled_rows] if contract.expectations[i].quarantines
        )
        self._cast_failures: dict[str, _RowTally] = {}
        self._observed_columns: list[str] = []
        self._rows = 0

    def feed(self, batch: pa.RecordBatch) -> None:
        """Evaluate ``row`` expectations on ``batch`` and keep what the end-of-stream checks need."""
        if SOURCE_ROW not in batch.schema.names:
            raise ValueError(f"record batch has no {SOURCE_ROW!r} column: the reader must add it")
        for name in batch.schema.names:
            if name != SOURCE_ROW and name not in self._observed_columns:
                self._observed_columns.append(name)
        self._rows += batch.num_rows
        if batch.num_rows == 0:
            return
        for index in self._compiled_rows:
            self._merge(self._tallies[index], self._compiled_row(index, batch))
        if self._row_indices:
            present = [c for c in [*self._row_columns, SOURCE_ROW] if c in batch.schema.names]
            self._pending.append(batch.select(present))
            self._pending_rows += batch.num_rows
            if self._pending_rows >= self.chunk_rows:
                self._validate_pending()
        if self._bounded is not None:
            try:
                self._bounded.feed(batch)
            except compiled.NotCompiled:  # keep the columns in memory as before (see bounded.py)
                self._keep_bounded_columns()
        for name in self._kept:
            if name in batch.schema.names:
                self._kept[name].append(batch.column(name))

    def _keep_bounded_columns(self) -> None:
        """Stop bounding: the spilled batches become kept columns, and the next batches are kept."""
        checks, self._bounded = self._bounded, None
        assert checks is not None
        new = [name for name in [*checks.columns, SOURCE_ROW] if name not in self._kept]
        for name in new:
            self._kept[name] = []
        if checks.rows:
            for spilled in checks.drain():
                for name in new:
                    if name in spilled.schema.names:
                        self._kept[name].append(spilled.column(name))
        checks.close()

    def _compiled_row(self, index: int, batch: pa.RecordBatch) -> Any:
        every_row = index in self._quarantine_indices
        try:
            return compiled.row_outcome(
                self.contract, index, batch, partial=self.max_failing_rows, every_row=every_row
            )
        except compiled.NotCompiled:  # this batch lacks the column or has another type: GX judges it
            frame = _to_frame(batch, _columns_of(self.contract, [index]))
            runner = self._detail_runner((index,), every_row=every_row)
            return runner.validate(frame)[0]

    def _validate_pending(self) -> None:
        if not self._pending:
            return
        chunk = pa.Table.from_batches(self._pending)
        self._pending, self._pending_rows = [], 0
        frame = _to_frame(chunk, self._row_columns)
        outcomes = recall(self._runners["row"], frame)  # answered before the load for a small file
        failing = tuple(o.index for o in outcomes if not o.success or o.result.get("unexpected_count"))
        if failing:  # only now pay for collecting the failing rows, on the failing checks alone
            detailed: dict[int, Any] = {}
            held = tuple(i for i in failing if i in self._quarantine_indices)
            sampled = tuple(i for i in failing if i not in self._quarantine_indices)
            for indices, every_row in ((sampled, False), (held, True)):
                if indices:
                    runner = self._detail_runner(indices, every_row=every_row)
                    detailed.update({o.index: o for o in runner.validate(frame)})
            outcomes = [detailed.get(o.index, o) for o in outcomes]
        for outcome in outcomes:
            self._merge(self._tallies[outcome.index], outcome)

    def pending_rows(self) -> tuple[Any, Any] | None:
        """The row-check runner and the frame ``finish`` would validate now (None: no row checks).

        ``pipeline/prevalidate.py`` validates it ahead, joined with other small files' frames.
        """
        if not self._row_indices or not self._pending:
            return None
        chunk = pa.Table.from_batches(self._pending)
        return self._runners["row"], _to_frame(chunk, self._row_columns)

    def pending_unique(self) -> tuple[Any, Any] | None:
        """The uniqueness runner and the frame ``finish`` would validate with it (None: no such checks).

        Call once every batch is fed; ``pipeline/prevalidate.py`` validates it ahead, joined.
        """
        if not self._unique_indices:
            return None
        return self._runners["unique"], self._kept_frame(self._unique_columns)

    def _detail_runner(self, indices: tuple[int, ...], *, every_row: bool) -> Any:
        from eventpulse.quality.gx_runner import GxRunner

        key = (indices, every_row)
        if key not in self._detail_runners:
            self._detail_runners[key] = GxRunner(
                self.contract, indices, partial_count=self.max_failing_rows, every_row=every_row
            )
        return self._detail_runners[key]

    def held_rows(self) -> dict[int, list[int]]:
        """Source row -> indices of the quarantine expectations it failed (call after ``finish``).

        Only expectations that pass as a whole hold rows back: a failing critical one fails the file.
        """
        out: dict[int, list[int]] = {}
        for index in sorted(self._quarantine_indices):
            for row in self._tallies[index].every_failing_row:
                out.setdefault(row, []).append(index)
        return out

    def add_cast_failures(
        self, column: str, source_rows: Sequence[int], sample_values: Sequence[str]
    ) -> None:
        """Record values of ``column`` that could not be converted to the declared type (critical)."""
        tally = self._cast_failures.setdefault(column, _RowTally(success=False))
        tally.unexpected += len(source_rows)
        room = self.max_failing_rows - len(tally.failing_rows)
        tally.failing_rows.extend(int(r) for r in source_rows[:room])
        tally.samples.extend(list(sample_values)[: self.max_failing_rows - len(tally.samples)])

    def finish(self) -> QualityReport:
        """Run the end-of-stream checks and return the report; passed = no failing critical result."""
        if self._bounded is not None and not self._bounded.rows:  # no row: judged as before (empty)
            self._keep_bounded_columns()
        self._validate_pending()
        rows = [*self._row_indices, *self._compiled_rows]
        results: dict[int, ExpectationResult] = {i: self._row_result(i) for i in rows}
        results.update(self._finish_columns())
        results.update(self._finish_table())
        results.update(self._finish_compiled())
        for index, result in results.items():
            result.engine = self.engines[index]
        ordered = [results[i] for i in sorted(results)] + self._cast_results()
        critical = sum(1 for r in ordered if r.severity == "critical" and not r.success)
        return QualityReport(
            passed=critical == 0,
            results=ordered,
            rows_evaluated=self._rows,
            critical_failures=critical,
            warnings=sum(1 for r in ordered if r.severity == "warning" and not r.success),
        )

    def _merge(self, tally: _RowTally, outcome: Any) -> None:
        result = outcome.result
        tally.success = tally.success and outcome.success
        tally.elements += int(result.get("element_count") or 0)
        tally.missing += int(result.get("missing_count") or 0)
        tally.unexpected += int(result.get("unexpected_count") or 0)
        if outcome.exception:
            tally.exceptions.append(outcome.exception)
        rows, samples = _failing_rows(result)
        room = self.max_failing_rows - len(tally.failing_rows)
        tally.failing_rows.extend(rows[:room])
        tally.samples.extend(samples[:room])
        if outcome.index in self._quarantine_indices:
            tally.every_failing_row.extend(_failing_rows(result, key="unexpected_index_list")[0])

    def _row_result(self, index: int) -> ExpectationResult:
        exp, tally = self.contract.expectations[index], self._tallies[index]
        denominator = tally.elements - tally.missing
        mostly = float(exp.kwargs.get("mostly", 1))
        success = (
            not tally.exceptions
            if self.held_rows_only and exp.quarantines
            else tally.success
            if mostly >= 1
            else not tally.exceptions
            and (denominator == 0 or (denominator - tally.unexpected) / denominator >= mostly)
        )
        return _result(
            exp,
            success=success,
            observed=None,
            unexpected=tally.unexpected,
            percent=100.0 * tally.unexpected / denominator if denominator else None,
            rows=tally.failing_rows,
            samples=tally.samples,
            exception="; ".join(dict.fromkeys(tally.exceptions)) or None,
        )

    def _finish_columns(self) -> dict[int, ExpectationResult]:
        out: dict[int, ExpectationResult] = {}
        if self._unique_indices:
            runner = self._runners["unique"]
            out.update(self._to_results(recall(runner, self._kept_frame(self._unique_columns))))
        if self._column_indices:
            out.update(self._outcomes_to_results("columns", self._kept_frame(self._aggregate_columns)))
        return out

    def _finish_compiled(self) -> dict[int, ExpectationResult]:
        outcomes = [compiled.table_outcome(self.contract, i, self._rows) for i in self._compiled_counts]
        bounded_indices: list[int] = []
        if self._bounded is not None:
            bounded_indices = self._bounded.indices
            outcomes.extend(self._bounded.outcomes(partial=self.max_failing_rows))
            self._bounded = None
        if any(i not in bounded_indices for i in self._compiled_columns):
            table = self._kept_table()
            for index in self._compiled_columns:
                if index in bounded_indices:
                    continue
                try:
                    outcome = compiled.column_outcome(
                        self.contract, index, table, partial=self.max_failing_rows
                    )
                except compiled.NotCompiled:  # a column never arrived or has another type: GX judges
                    columns = _columns_of(self.contract, [index])
                    runner = self._detail_runner((index,), every_row=False)
                    outcome = runner.validate(self._kept_frame(columns))[0]
                outcomes.append(outcome)
        return self._to_results(outcomes)

    def _kept_table(self) -> pa.Table:
        from eventpulse.schema.cast import ARROW_TYPES

        arrays = {name: pa.chunked_array(chunks) for name, chunks in self._kept.items() if chunks}
        if not self._rows:  # no row at all (an empty file): empty columns of the declared types
            for name in self._kept:
                declared = self.contract.schema.get(name)
                if name not in arrays and declared is not None and declared.type in ARROW_TYPES:
                    arrays[name] = pa.chunked_array([], ARROW_TYPES[declared.type])
        if SOURCE_ROW not in arrays:
            arrays[SOURCE_ROW] = pa.chunked_array([], pa.int64())
        return pa.table(arrays)

    def _kept_frame(self, columns: Sequence[str]) -> Any:
        arrays = {
            name: pa.chunked_array(self._kept[name])
            for name in [*columns, SOURCE_ROW]
            if self._kept.get(name)
        }
        return _to_frame(pa.table(arrays), list(arrays)) if arrays else _empty_frame(columns)

    def _finish_table(self) -> dict[int, ExpectationResult]:
        import numpy as np
        import pandas as pd

        out: dict[int, ExpectationResult] = {}
        if self._count_indices:
            runner = self._runners["count"]

            def counted() -> list[Any]:
                return list(runner.validate(pd.DataFrame({SOURCE_ROW: np.zeros(self._rows, dtype=np.int8)})))

            out.update(self._to_results(recall_row_count(runner, self._rows, counted)))
        if self._names_indices:
            out.update(
                self._outcomes_to_results("names", _empty_frame(self._observed_columns, source_row=False))
            )
        return out

    def _outcomes_to_results(self, runner: str, frame: Any) -> dict[int, ExpectationResult]:
        return self._to_results(self._runners[runner].validate(frame))

    def _to_results(self, outcomes: Sequence[Any]) -> dict[int, ExpectationResult]:
        out = {}
        for outcome in outcomes:
            rows, samples = _failing_rows(outcome.result)
            out[outcome.index] = _result(
                self.contract.expectations[outcome.index],
                success=outcome.success,
                observed=outcome.result.get("observed_value"),
                unexpected=int(outcome.result.get("unexpected_count") or 0),
                percent=outcome.result.get("unexpected_percent"),
                rows=rows[: self.max_failing_rows],
                samples=samples[: self.max_failing_rows],
                exception=outcome.exception,
            )
        return out

    def _cast_results(self) -> list[ExpectationResult]:
        out = []
        for column, tally in self._cast_failures.items():
            declared = self.contract.schema.get(column)
            out.append(
                ExpectationResult(
                    expectation_type=CAST_FAILURE_TYPE,
                    kwargs={"column": column, "type": declared.type if declared else None},
                    severity="critical",
                    success=False,
                    observed_value=None,
                    unexpected_count=tally.unexpected,
                    unexpected_percent=100.0 * tally.unexpected / self._rows if self._rows else None,
                    failing_rows=tally.failing_rows,
                    sample_values=tally.samples,
                    engine="eventpulse",
                )
            )
        return out


def _gx_runner(contract: Contract, indices: Sequence[int], **options: Any) -> Any:
    """A GxRunner for ``indices``; None when there are none (so that GX is not imported for nothing)."""
    if not indices:
        return None
    from eventpulse.quality.gx_runner import GxRunner

    return GxRunner(contract, indices, **options)


def _indices_by_class(expectations: Sequence[Expectation]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"row": [], "columns": [], "table": []}
    for i, exp in enumerate(expectations):
        out[exp.stream_class].append(i)
    return out


def _columns_of(contract: Contract, indices: Sequence[int]) -> list[str]:
    names: list[str] = []
    for i in indices:
        names.extend(c for c in contract.expectations[i].columns if c not in names)
    return names


def _to_frame(data: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> Any:
    # Only the needed columns are converted; dates become datetime64 so GX can compare them.
    present = [c for c in columns if c in data.schema.names and c != SOURCE_ROW]
    return data.select([*present, SOURCE_ROW]).to_pandas(date_as_object=False)


def _empty_frame(columns: Sequence[str], *, source_row: bool = True) -> Any:
    import pandas as pd

    names = [*columns, SOURCE_ROW] if source_row else list(columns)
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in names})


def _failing_rows(
    result: dict[str, Any], *, key: str = "partial_unexpected_index_list"
) -> tuple[list[int], list[Any]]:
    rows: list[int] = []
    samples: list[Any] = []
    for entry in result.get(key) or []:
        if not isinstance(entry, dict) or entry.get(SOURCE_ROW) is None:
            continue
        rows.append(int(entry[SOURCE_ROW]))
        values = {k: v for k, v in entry.items() if k != SOURCE_ROW}
        samples.append(next(iter(values.values())) if len(values) == 1 else values)
    return rows, samples


def _result(
    exp: Expectation,
    *,
    success: bool,
    observed: Any,
    unexpected: int,
    percent: float | None,
    rows: list[int],
    samples: list[Any],
    exception: str | None,
) -> ExpectationResult:
    return ExpectationResult(
        expectation_type=exp.type,
        kwargs=dict(exp.kwargs),
        severity=exp.severity,
        success=success,
        observed_value=observed,
        unexpected_count=unexpected,
        unexpected_percent=percent,
        failing_rows=rows,
        sample_values=samples,
        exception=exception,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
