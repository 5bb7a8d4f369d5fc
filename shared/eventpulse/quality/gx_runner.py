"""The one module that imports Great Expectations (lazily): build suites, validate pandas frames.

Everything returned is plain Python (dicts, lists, numbers, strings, datetimes); GX objects stay inside
``GxRunner``. The GX context is ephemeral and in memory: no files, no analytics, no progress bars.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventpulse.contracts.model import Contract, Expectation
from eventpulse.errors import ContractError
from eventpulse.logs import carry_log_context

if TYPE_CHECKING:
    import pandas as pd

INDEX_KEY = "_ep_index"
"""Stamped into each expectation's meta so results map back to the contract's expectations."""

_batch_definition: Any = None
_init_lock = threading.RLock()
"""Serialises every first import of GX: two threads importing it at once fail with
'partially initialized module' (the warm-up thread and the gate can race)."""
_validate_lock = threading.Lock()
"""One validation at a time in a process: the GX context and its one batch definition are shared, and
GX is not thread-safe (two concurrent validate calls on it answered wrongly under the inline pool).
It is CPU-bound under the GIL anyway, so the lock costs no parallelism."""

log = logging.getLogger(__name__)


def warm_up_in_background() -> threading.Thread:
    """Import GX and build its context on a daemon thread.

    A cold ``import great_expectations`` takes 3-5 s here; started when processing begins, it
    overlaps the read and inference passes instead of delaying the load.
    """

    def warm() -> None:
        try:
            _get_batch_definition()
        except Exception:  # the gate will raise the same error where it can be reported
            log.debug("warming up Great Expectations failed", exc_info=True)

    thread = threading.Thread(target=carry_log_context(warm), name="eventpulse-gx-warmup", daemon=True)
    thread.start()
    return thread


@dataclass
class GxOutcome:
    """The plain-Python outcome of one expectation on one frame."""

    index: int
    success: bool
    result: dict[str, Any]
    exception: str | None


class GxRunner:
    """A prebuilt GX suite for a subset of a contract's expectations, reusable across frames."""

    def __init__(
        self,
        contract: Contract,
        indices: Sequence[int],
        *,
        partial_count: int,
        with_rows: bool = True,
        every_row: bool = False,
    ):
        self._suite = _build_suite(contract, indices)
        self._count = len(indices)
        self.contract = contract
        self.indices = tuple(indices)
        # SUMMARY collects the failing rows' _source_row values; BASIC only counts, about twice as fast;
        # COMPLETE (``every_row``) lists every failing row, which quarantine needs.
        level = "COMPLETE" if every_row else "SUMMARY" if with_rows else "BASIC"
        self._result_format: dict[str, Any] = {
            "result_format": level,
            "partial_unexpected_count": partial_count,
        }
        if with_rows:
            self._result_format["unexpected_index_column_names"] = ["_source_row"]
        self.key = (contract.dataset, contract.version, self.indices, level, partial_count)
        """Two runners with the same key validate identically (``quality/coalesce.py`` relies on it)."""

    def validate(self, frame: pd.DataFrame) -> list[GxOutcome]:
        """Validate ``frame`` (which must hold ``_source_row``); outcomes in expectation order."""
        if self._count == 0:
            return []
        with _validate_lock:
            batch = _get_batch_definition().get_batch(batch_parameters={"dataframe": frame})
            validation = batch.validate(self._suite, result_format=self._result_format)
        outcomes = [_outcome(r) for r in validation.results]
        return sorted(outcomes, key=lambda o: o.index)


def check_contract(contract: Contract) -> None:
    """Build every expectation of ``contract`` in GX; ContractError when GX rejects one."""
    _build_suite(contract, range(len(contract.expectations)))


def _get_batch_definition() -> Any:
    with _init_lock:
        return _build_batch_definition()


def _build_batch_definition() -> Any:
    global _batch_definition
    if _batch_definition is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        _skip_frame_fingerprints()
        asset = context.data_sources.add_pandas("eventpulse").add_dataframe_asset("frame")
        _batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")
    return _batch_definition


def _skip_frame_fingerprints() -> None:
    # GX hashes every frame below HASH_THRESHOLD bytes into a batch marker we never read; on 100k-row
    # batches that hash costs as much as the checks themselves (measured: ~2 s per 1M rows).
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def _build_suite(contract: Contract, indices: Sequence[int]) -> Any:
    with _init_lock:
        from great_expectations.core import ExpectationSuite

    configs = []
    for index in indices:
        exp = contract.expectations[index]
        kwargs = _gx_kwargs(contract, exp)
        configs.append({"type": exp.type, "kwargs": kwargs, "meta": {**exp.meta, INDEX_KEY: index}})
    for config in configs:  # one by one, so an invalid one is named (GX would log and drop it)
        try:
            suite = ExpectationSuite(name=contract.dataset, expectations=[config])
        except Exception as exc:  # GX raises pydantic and its own errors here
            raise _invalid(contract, config, str(exc)) from exc
        if len(suite.expectations) != 1:
            raise _invalid(contract, config, "Great Expectations did not accept it")
    suite = ExpectationSuite(
        name=contract.dataset, expectations=configs, meta=dict(contract.suite.get("meta", {}))
    )
    if len(suite.expectations) != len(configs):
        raise ContractError(f"contract {contract.dataset!r}: Great Expectations dropped expectations")
    return suite


def _invalid(contract: Contract, config: Mapping[str, Any], reason: str) -> ContractError:
    index = config["meta"][INDEX_KEY]
    first_line = reason.strip().splitlines()[0] if reason.strip() else reason
    return ContractError(
        f"contract {contract.dataset!r}: expectations[{index}] ({config['type']}) is invalid: {first_line}",
        hint="fix its kwargs as documented for this expectation type in Great Expectations 1.x",
        details={"dataset": contract.dataset, "key": f"expectations[{index}].kwargs", "reason": reason},
    )


def _gx_kwargs(contract: Contract, exp: Expectation) -> dict[str, Any]:
    # GX reads "2024-01-01" bounds as datetime.date, which pandas cannot compare with datetime64
    # columns; date and datetime columns reach GX as datetime64, so bounds become Timestamps.
    kwargs = dict(exp.kwargs)
    column = contract.schema.get(str(kwargs.get("column", "")))
    if column is not None and column.type in ("date", "datetime"):
        import pandas as pd

        for key in ("min_value", "max_value"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = pd.Timestamp(kwargs[key])
    return kwargs


def _outcome(result: Any) -> GxOutcome:
    info = result.exception_info or {}
    # exception_info is either one {raised_exception, exception_message} or a mapping of such per metric
    entries = [info] if "raised_exception" in info else list(info.values())
    messages = [
        str(e.get("exception_message")) for e in entries if isinstance(e, dict) and e.get("raised_exception")
    ]
    return GxOutcome(
        index=int(result.expectation_config.meta[INDEX_KEY]),
        success=bool(result.success),
        result=to_plain(dict(result.result or {})),
        exception="; ".join(messages) or None,
    )


def to_plain(value: Any) -> Any:
    """numpy/pandas scalars and containers as plain Python; NaN and NaT become None."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dt.datetime):  # includes pandas.Timestamp
        if hasattr(value, "to_pydatetime"):
            return None if value != value else value.to_pydatetime()
        return value
    if isinstance(value, dt.date):
        return value
    if getattr(getattr(value, "dtype", None), "kind", "") in ("m", "M"):  # numpy datetime64/timedelta64
        import pandas as pd

        return (
            None
            if pd.isna(value)
            else to_plain(pd.Timestamp(value) if value.dtype.kind == "M" else str(value))
        )
    if hasattr(value, "item"):  # numpy scalars, including nan
        return to_plain(value.item())
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    return str(value)
