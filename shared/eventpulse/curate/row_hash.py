"""The content hash of a curated row, so a replay skips the rows the table already holds (pure).

A curated row carries ``_row_hash``: 128 bits (a ``uuid``) over its key and data columns as the load
that last wrote it wrote them. A replay or backfill fetches the table's hashes once, hashes each row
of the file, and stages only the rows whose hash is not there: changed rows and new keys. The merge
then compares columns as before, so the hash only ever skips work, never decides a change alone:

- **Equal hashes mean an equal row.** The hash covers the column set and types (as its seed) and
  every value (``bounded.hash_values``: the value's bytes or 64-bit pattern; a missing value has its
  own mark), so two rows hash alike only when every value is alike, or by a 64-bit collision of one
  changed value (about 1 in 1.8e19 per changed row).
- **Unequal hashes prove nothing.** Values that Arrow tells apart but Postgres stores alike (NaN
  payloads) are staged and left alone by the merge's comparison, as without the hash.
- **Outside writes clear the hash.** An UPDATE that leaves ``_row_hash`` as it was (an edit by
  hand: a load always writes a changed row's new hash) has it set to NULL by the table's trigger
  (``ddl.row_hash_trigger``), so the next replay compares that row and restores it (docs/LINEAGE.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventpulse.curate.ddl import ROW_HASH
from eventpulse.quality.bounded import hash_values
from eventpulse.quality.bounded import mix64 as _mix
from eventpulse.quality.compiled import NotCompiled

__all__ = ["ROW_HASH", "ROW_HASH_BYTES", "KnownHashes", "Unhashable", "as_uuid_text", "row_hashes"]

ROW_HASH_BYTES = 16

_G1 = np.uint64(0x9E3779B97F4A7C15)
_G2 = np.uint64(0xC2B2AE3D27D4EB4F)
_MISSING = np.uint64(0x5851F42D4C957F2D)
"""The part of a missing value (any real value's part may equal it: a 64-bit collision at worst)."""
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


class Unhashable(Exception):
    """A column type the row hash does not cover: the load then writes no hashes (NULL)."""


def _seeds(columns: Sequence[tuple[str, pa.DataType]]) -> tuple[np.uint64, np.uint64]:
    """Two 64-bit seeds from the column names and types: another column set never hashes alike."""
    spelled = "\x1f".join(f"{name}\x1e{kind}" for name, kind in columns).encode()
    digest = hashlib.blake2b(spelled, digest_size=16, person=b"eventpulse-row").digest()
    return np.uint64(int.from_bytes(digest[:8], "big")), np.uint64(int.from_bytes(digest[8:], "big"))


def row_hashes(batch: pa.RecordBatch, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two uint64 lanes per row over the columns ``names`` of ``batch`` (in name order).

    Raises Unhashable for a column type ``hash_values`` does not cover.
    """
    ordered = sorted(names)
    arrays = [batch.column(name) for name in ordered]
    lane1, lane2 = _seeds([(n, a.type) for n, a in zip(ordered, arrays, strict=True)])
    rows = batch.num_rows
    h1 = np.full(rows, lane1, dtype=np.uint64)
    h2 = np.full(rows, lane2, dtype=np.uint64)
    for values in arrays:
        if pa.types.is_null(values.type):
            part = np.full(rows, _MISSING, dtype=np.uint64)
        else:
            try:
                part = np.asarray(hash_values(values), dtype=np.uint64)
            except NotCompiled as exc:
                raise Unhashable(str(exc)) from exc
            if values.null_count:
                missing = np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False), dtype=bool)
                part = np.where(missing, _MISSING, part)
        h1 = _mix(h1 * _G1 + part)
        h2 = _mix((h2 ^ part) * _G2 + _G1)
    return h1, h2


def as_uuid_text(h1: np.ndarray, h2: np.ndarray) -> pa.Array:
    """The hashes as 32 hex digits each (a ``uuid`` Postgres reads), built without a Python loop."""
    raw = np.stack([h1, h2], axis=1).astype(">u8").view(np.uint8)  # rows × 16 bytes, h1 first
    text = _HEX[raw].tobytes()
    offsets = np.arange(0, len(h1) * 2 * ROW_HASH_BYTES + 1, 2 * ROW_HASH_BYTES, dtype=np.int32)
    return pa.StringArray.from_buffers(len(h1), pa.py_buffer(offsets), pa.py_buffer(text))


class KnownHashes:
    """The hashes a table holds, sorted by their first lane, to test the file's rows against."""

    def __init__(self, h1: np.ndarray, h2: np.ndarray) -> None:
        order = np.argsort(h1, kind="stable")
        self._h1, self._h2 = h1[order], h2[order]

    def __len__(self) -> int:
        return len(self._h1)

    @classmethod
    def from_uuid_bytes(cls, raw: bytes) -> KnownHashes:
        """From the 16 bytes of each hash, back to back (h1 then h2, big-endian)."""
        lanes = np.frombuffer(raw, dtype=">u8").reshape(-1, 2).astype(np.uint64)
        return cls(lanes[:, 0].copy(), lanes[:, 1].copy())

    def contains(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Per row, whether the table holds its hash (both lanes).

        A first-lane value held twice (two rows colliding there) may report False for the second:
        the row is then staged and the merge compares it, which is only slower.
        """
        if not len(self._h1):
            return np.zeros(len(h1), dtype=bool)
        order = np.argsort(h1)  # sorted probes walk the table's hashes in order: cache-friendly
        at = np.minimum(np.searchsorted(self._h1, h1[order]), len(self._h1) - 1)
        found = np.empty(len(h1), dtype=bool)
        found[order] = (self._h1[at] == h1[order]) & (self._h2[at] == h2[order])
        return found
