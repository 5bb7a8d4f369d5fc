"""The known schema a file is compared with: the contract, as evolution has extended it (pure)."""

from __future__ import annotations

from eventpulse.contracts.model import Contract
from eventpulse.schema.model import Column, TableSchema


def known_schema(
    contract: Contract, accepted: TableSchema | None, observed: TableSchema | None = None
) -> TableSchema:
    """The contract's columns (widened where history widened them), then the columns evolution added.

    An evolved column, one the contract does not declare, is optional once added: when the observed
    file lacks it, it is left out here, so older-shaped files and replays of raw files from before
    the evolution still load (NULL in that column) instead of failing as a "removed column".
    """
    if accepted is None:
        return contract.schema
    columns: list[Column] = []
    for col in contract.schema:
        evolved = accepted.get(col.name)
        columns.append(evolved if evolved is not None else col)
    declared = set(contract.schema.names)
    for col in accepted:
        if col.name in declared:
            continue
        if observed is not None and col.nullable and observed.get(col.name) is None:
            continue
        columns.append(col)
    return TableSchema.of(columns)
