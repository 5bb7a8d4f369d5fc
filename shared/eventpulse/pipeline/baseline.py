"""The known schema a file is compared with: the contract, as evolution has extended it (pure)."""

from __future__ import annotations

from eventpulse.contracts.model import Contract
from eventpulse.errors import ContractError
from eventpulse.schema.model import Column, TableSchema


def known_schema(contract: Contract, accepted: TableSchema | None) -> TableSchema:
    """The contract's columns (widened where history widened them), then every column evolution added.

    Nothing is ever left out: a column the dataset accepted is in its curated table for good, so a
    file that lacks it is a ``column_removed`` change for the drift policy to decide, never a reason
    to forget the column (which would make the history and the table disagree).
    """
    if accepted is None:
        return contract.schema
    columns: list[Column] = []
    for col in contract.schema:
        evolved = accepted.get(col.name)
        columns.append(evolved if evolved is not None else col)
    declared = set(contract.schema.names)
    columns += [col for col in accepted if col.name not in declared]
    return TableSchema.of(columns)


def ensure_renames_known(contract: Contract, known: TableSchema) -> None:
    """Raise ContractError when a rename targets a column neither the contract nor the history knows."""
    for name, target in contract.renames.items():
        if known.get(target) is None:
            raise ContractError(
                f"contract {contract.dataset!r}: meta.eventpulse.renames.{name}: {target!r} is not a "
                "known column of the dataset",
                hint=f"map {name!r} to one of: {', '.join(known.names)}",
                details={"dataset": contract.dataset, "key": f"meta.eventpulse.renames.{name}"},
            )
