"""Whole-file checks without holding the whole file: the bounded part of the compiled gate.

``expect_column_values_to_be_unique``, ``expect_compound_columns_to_be_unique`` and
``expect_column_proportion_of_non_null_values_to_be_between`` judge every row of the file, so the gate
used to keep their columns (and ``_source_row``) in memory until the end and evaluate them there:
about 30 bytes per row held, and ~120 more per row at the end for the hash table and the numpy codes
of the uniqueness check (150 MB per million parcels rows, 1.8 GB at 10M). Here instead:

- **Uniqueness**: per row, one 64-bit hash of the key (8 bytes per row, numpy, the only thing that
  grows in memory with the rows); the key columns and ``_source_row`` go to an Arrow IPC file on disk
  (the *spill*). At the end, the hashes that repeat are found partition by partition (by their top
  bits, so the extra memory is a slice of the hashes, not a copy), and only the rows whose hash
  repeats are read back from the memory-mapped spill and judged exactly, on their real values, by
  ``compiled._unique`` (the same code as before): every true duplicate shares its hash, so it is
  among them, and a hash collision between distinct keys only costs a re-check. The unexpected
  count, percent, failing rows and samples are the same as a check over the whole column.
  Memory at the end is proportional to the rows whose hash repeats (the duplicates themselves).
- **Proportion of non-null values**: two counters (rows, missing) per check, nothing per row.

The other compiled column checks (mean, min, max, sum) still keep their column in memory (about
9 bytes per numeric row): their pandas float semantics (pairwise summation) are kept exactly by
evaluating the whole column, as before. When a batch does not fit (a spilled column is absent, has
another type, or changes type between batches), the spill is read back and the gate keeps the
columns in memory as it did before, so the answer (and the fallback to GX) is unchanged.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.contracts.model import Contract
from eventpulse.quality import compiled

SOURCE_ROW = compiled.SOURCE_ROW

BOUNDED_TYPES = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_proportion_of_non_null_values_to_be_between",
    }
)
"""The ``columns`` expectation types judged here without keeping their columns in memory."""

HASH_BYTES_PER_ROW = 8
"""What a uniqueness check keeps in memory per row: one uint64 hash."""

Hasher = Callable[[pa.Array], np.ndarray]
"""Values (no missing ones are looked at) -> one uint64 per value; equal values, equal hashes."""

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SKIPPED = np.uint64(0)
"""The hash of a row the check skips (missing key); a real hash of 0 is made 1 (a collision at worst)."""
_MISSING_PART = np.uint64(0x5851F42D4C957F2D)
"""The hash of a missing value inside a compound key (missing values are equal there, as in pandas)."""


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of uint64, so distinct 64-bit values never collide."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def hash_values(values: pa.Array) -> np.ndarray:
    """A uint64 hash of every value of ``values`` (the default Hasher); missing slots are arbitrary.

    Strings and binaries: their bytes, 8 at a time, vectorized over the rows (numpy on the Arrow
    buffers); fixed-width values (integers, floats with -0.0 made 0.0, dates, timestamps, booleans):
    their 64-bit pattern through a bijective mix (no collision at all).
    """
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind):
        return _hash_bytes(values)
    if pa.types.is_floating(kind):
        values = pc.add(pc.cast(values, pa.float64()), 0.0)  # -0.0 and 0.0 are one value
        bits = np.asarray(values.fill_null(0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
        return mix64(bits.view(np.uint64))
    if pa.types.is_boolean(kind):
        values = pc.cast(values, pa.int64())
    elif pa.types.is_temporal(kind) and kind.bit_width in (32, 64):  # dates, times, timestamps
        values = values.view(pa.int32() if kind.bit_width == 32 else pa.int64())
    elif not pa.types.is_integer(kind):
        raise compiled.NotCompiled(f"no hash for values of type {kind}")
    ints = np.asarray(pc.cast(values, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return mix64(ints.view(np.uint64))


def _hash_bytes(values: pa.Array) -> np.ndarray:
    rows = len(values)
    if not rows:
        return np.empty(0, dtype=np.uint64)
    large = pa.types.is_large_string(values.type)
    _, offsets_buf, data_buf = values.buffers()[:3]
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if large else np.int32)
    offsets = offsets[values.offset : values.offset + rows + 1].astype(np.int64)
    starts, lengths = offsets[:-1], np.diff(offsets)
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=np.uint8)[first:last] if data_buf else np.empty(0, np.uint8)
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[: len(data)] = data
    # element i of ``words`` is the 8 bytes from byte i on, little-endian (an unaligned, overlapping view)
    words = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, offset=0, strides=(1,))
    starts = starts - first
    hashes = lengths.astype(np.uint64) * _GOLDEN
    active = np.flatnonzero(lengths > 0)
    step = 0
    while active.size:
        remaining = lengths[active] - step
        word = words[starts[active] + step]
        short = remaining < 8
        if short.any():
            shift = (remaining[short] * 8).astype(np.uint64)
            word[short] &= (np.uint64(1) << shift) - np.uint64(1)
        hashes[active] = mix64(hashes[active] ^ word) + _GOLDEN
        active = active[~short]
        step += 8
    return mix64(hashes)


class UniqueTracker:
    """One uniqueness check (single column, or compound) over the stream: a hash per row."""

    def __init__(self, names: Sequence[str], *, skip_any: bool, hasher: Hasher):
        self.names = list(names)
        self.skip_any = skip_any
        self.hasher = hasher
        self.hashes: list[np.ndarray] = []
        self.missing = 0

    def hash(self, columns: Sequence[pa.Array]) -> tuple[np.ndarray, int]:
        """The rows' hashes (the skipped ones: 0) and how many rows are skipped (missing keys)."""
        missings = [compiled._to_bool_numpy(compiled._missing(c)) for c in columns]
        skipped = np.logical_or.reduce(missings) if self.skip_any else np.logical_and.reduce(missings)
        combined: np.ndarray | None = None
        for values, missing in zip(columns, missings, strict=True):
            part = np.asarray(self.hasher(values), dtype=np.uint64)
            if len(part) != len(values):
                raise ValueError(f"the hasher gave {len(part)} hashes for {len(values)} values")
            if len(columns) > 1:
                part = np.where(missing, _MISSING_PART, part)
            combined = part if combined is None else mix64(combined * _GOLDEN + part)
        assert combined is not None
        combined = np.where(combined == _SKIPPED, np.uint64(1), combined)
        combined[skipped] = _SKIPPED
        return combined, int(skipped.sum())

    def add(self, hashes: np.ndarray, skipped: int) -> None:
        self.hashes.append(hashes)
        self.missing += skipped

    def candidates(self) -> list[np.ndarray]:
        """Per fed batch, the positions of the rows whose hash repeats anywhere in the file."""
        repeated = repeated_hashes(self.hashes)
        if not repeated.size:
            return [np.empty(0, dtype=np.int64) for _ in self.hashes]
        return [np.flatnonzero(np.isin(h, repeated)) for h in self.hashes]


PARTITION_ROWS = 1 << 21
"""Hashes sorted at once when looking for repeats (16 MiB): the end's extra memory, whatever the rows."""


def repeated_hashes(parts: Sequence[np.ndarray], partition_rows: int = PARTITION_ROWS) -> np.ndarray:
    """The distinct hashes (other than the skipped marker) that occur more than once in ``parts``."""
    total = sum(len(p) for p in parts)
    bits = max(0, int(np.ceil(np.log2(max(total, 1) / partition_rows))))
    found: list[np.ndarray] = []
    shift = np.uint64(64 - bits) if bits else None
    for partition in range(1 << bits):
        if shift is None:
            chunk = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        else:
            chunk = np.concatenate([p[(p >> shift) == np.uint64(partition)] for p in parts])
        chunk = chunk[chunk != _SKIPPED]
        chunk.sort()
        same = chunk[1:] == chunk[:-1]
        if same.any():
            found.append(np.unique(chunk[1:][same]))
    return np.concatenate(found) if found else np.empty(0, dtype=np.uint64)


class Spill:
    """The spilled columns, batch after batch, in an Arrow IPC file removed when done."""

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        handle, name = tempfile.mkstemp(prefix="eventpulse-gate-", suffix=".arrow", dir=directory)
        os.close(handle)
        self.path = Path(name)
        self._cleanup = weakref.finalize(self, _remove, self.path)
        self._sink: Any = None
        self._writer: Any = None
        self.schema: pa.Schema | None = None
        self.batches = 0

    def fits(self, batch: pa.RecordBatch) -> bool:
        return self.schema is None or batch.schema.equals(self.schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self.schema = batch.schema
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_file(self._sink, batch.schema)
        self._writer.write_batch(batch)
        self.batches += 1

    def read(self) -> Iterator[pa.RecordBatch]:
        """Every spilled batch in order, memory-mapped (call once the writing is over)."""
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
        if not self.batches:
            return
        with pa.memory_map(str(self.path)) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
        self._cleanup()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


class BoundedChecks:
    """The bounded ``columns`` checks of one gate: feed typed batches, then ``outcomes()``.

    ``feed`` raises ``compiled.NotCompiled`` when a batch does not fit (see the module docstring);
    the gate then takes ``drain()`` (the spilled batches) and keeps the columns in memory as before.
    """

    def __init__(
        self,
        contract: Contract,
        indices: Sequence[int],
        *,
        hasher: Hasher | None = None,
        spill_dir: str | os.PathLike[str] | None = None,
    ):
        self.contract = contract
        self.indices = list(indices)
        self.hasher = hasher or hash_values
        self.columns: list[str] = []
        for index in self.indices:
            self.columns.extend(c for c in _names(contract, index) if c not in self.columns)
        self._unique = {
            i: UniqueTracker(
                _names(contract, i),
                skip_any=contract.expectations[i].type == "expect_column_values_to_be_unique",
                hasher=self.hasher,
            )
            for i in self.indices
            if contract.expectations[i].type != "expect_column_proportion_of_non_null_values_to_be_between"
        }
        self._missing = {i: 0 for i in self.indices if i not in self._unique}
        # Every fed batch's columns go to the spill, so that the gate can go back to keeping them.
        self._spill = Spill(spill_dir)
        self._lengths: list[int] = []
        self.rows = 0

    def feed(self, batch: pa.RecordBatch) -> None:
        """Take one non-empty batch; raise NotCompiled (nothing taken) when it does not fit."""
        values = {name: compiled._column(batch, name, self.contract) for name in self.columns}
        spilled = batch.select([*self.columns, SOURCE_ROW])
        if not self._spill.fits(spilled):
            raise compiled.NotCompiled("a spilled column changed type between batches")
        missing = {
            i: compiled._true_count(compiled._missing(values[_names(self.contract, i)[0]]))
            for i in self._missing
        }
        hashed = {i: t.hash([values[name] for name in t.names]) for i, t in self._unique.items()}
        for index, (hashes, skipped) in hashed.items():  # nothing raises from here on
            self._unique[index].add(hashes, skipped)
        for index, count in missing.items():
            self._missing[index] += count
        self._spill.write(spilled)
        self._lengths.append(batch.num_rows)
        self.rows += batch.num_rows

    def drain(self) -> Iterator[pa.RecordBatch]:
        """The batches spilled so far (columns ``self.columns`` and ``_source_row``), then closes."""
        try:
            yield from self._spill.read()
        finally:
            self.close()

    def outcomes(self, *, partial: int) -> list[Any]:
        from eventpulse.quality.gx_runner import GxOutcome

        out = []
        try:
            candidates = {i: t.candidates() for i, t in self._unique.items()}
            taken = self._take({i: c for i, c in candidates.items()})
            for index in self.indices:
                exp = self.contract.expectations[index]
                if index in self._unique:
                    tracker = self._unique[index]
                    result, considered = self._unique_result(tracker, taken[index], partial)
                    success = compiled._mostly(exp, considered, result["unexpected_count"])
                    out.append(GxOutcome(index, success, result, None))
                else:
                    missing = self._missing[index]
                    observed = (self.rows - missing) / self.rows if self.rows else 0
                    out.append(compiled.bounded_aggregate_outcome(self.contract, index, observed))
        finally:
            self.close()
        return out

    def _take(self, candidates: dict[int, list[np.ndarray]]) -> dict[int, pa.Table | None]:
        """Per uniqueness check, its candidate rows read back from the spill (None: no candidate)."""
        wanted = {i: c for i, c in candidates.items() if any(len(p) for p in c)}
        pieces: dict[int, list[pa.RecordBatch]] = {i: [] for i in wanted}
        if wanted:
            for number, batch in enumerate(self._spill.read()):
                for index, per_batch in wanted.items():
                    if len(per_batch[number]):
                        taken = batch.take(pa.array(per_batch[number], pa.int64()))
                        pieces[index].append(taken.select([*self._unique[index].names, SOURCE_ROW]))
        return {i: pa.Table.from_batches(pieces[i]) if pieces.get(i) else None for i in candidates}

    def _unique_result(
        self, tracker: UniqueTracker, table: pa.Table | None, partial: int
    ) -> tuple[dict[str, Any], int]:
        considered = self.rows - tracker.missing
        if table is None:
            count, entries = 0, []
        else:
            found, _ = compiled._unique(
                self.contract, table, tracker.names, partial, skip_any=tracker.skip_any
            )
            count, entries = int(found["unexpected_count"]), found["partial_unexpected_index_list"]
        result: dict[str, Any] = {
            "element_count": self.rows,
            "missing_count": tracker.missing,
            "unexpected_count": count,
            "unexpected_percent": count / considered * 100 if considered else None,  # GX's order
            "partial_unexpected_index_list": entries,
        }
        return result, considered

    def close(self) -> None:
        self._spill.close()


def _names(contract: Contract, index: int) -> list[str]:
    exp = contract.expectations[index]
    if exp.type == "expect_compound_columns_to_be_unique":
        return [str(c) for c in exp.kwargs["column_list"]]
    return [str(exp.kwargs["column"])]


def bytes_per_row(checks: BoundedChecks | None) -> int:
    """What ``checks`` holds in memory per row fed (the hashes); the rest is counters or on disk."""
    return 0 if checks is None else HASH_BYTES_PER_ROW * len(checks._unique)
