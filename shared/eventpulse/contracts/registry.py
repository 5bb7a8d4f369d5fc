"""Which contract is a dataset's current one: the contracts folder and the API, reconciled.

A contract changes in two ways: someone edits ``contracts/<dataset>.json``, or an admin saves one
through the API (``PUT /api/contracts/<dataset>``). Each change is an adoption in the store, and the
newest adoption is current. A file is adopted when it says something it did not say the last time it
was read (so an API save stays current until the file is edited again); the file being unchanged
changes nothing. Every version's body is kept, so history, diffs and replays under an old version work.

Orchestration only: the store is reached through the ``Services`` handed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventpulse.contracts.loader import ensure_dataset_name, list_contracts, parse_contract, parse_suite
from eventpulse.contracts.model import Contract
from eventpulse.errors import Conflict, ContractError, NotFound

if TYPE_CHECKING:
    from eventpulse.ports import ContractRecord, Row, Services, Transaction

FILE_ACTOR = "contracts-dir"
"""The audit actor of an adoption read from the contracts folder."""


@dataclass(frozen=True)
class Saved:
    contract: Contract
    record: ContractRecord
    changed: bool
    """False when the saved suite was already the current version."""
    previous: ContractRecord | None
    """The contract that was current before the save (None for a dataset's first contract)."""

    @property
    def previous_version(self) -> str | None:
        return self.previous.version if self.previous is not None else None


def resolve_contract(services: Services, dataset: str) -> Contract:
    """The dataset's current contract; adopts the contract file first when it changed.

    Raises ContractError (422) when the contract file is invalid or no contract exists. A file that
    does not parse is never adopted, and while it is broken every read reports it (an older version is
    not used in its place), so the person editing it sees why at once.
    """
    ensure_dataset_name(dataset)
    path = services.settings.contracts_dir / f"{dataset}.json"
    from_file = parse_contract(dataset, path.read_bytes()) if path.is_file() else None
    with services.store.transaction() as tx:
        if from_file is not None:
            record, changed = tx.contracts.adopt(
                dataset=dataset,
                version=from_file.version,
                body=from_file.suite,
                source="file",
                actor=FILE_ACTOR,
            )
            if changed:
                # A file cannot be refused, so a mart Postgres will not create is recorded as an error.
                apply_marts(tx, from_file, strict=False, actor=FILE_ACTOR)
        else:
            found = tx.contracts.current(dataset)
            if found is None:
                raise no_contract(services, dataset)
            record = found
    if from_file is not None and record.version == from_file.version:
        return from_file
    return parse_suite(dataset, record.body)


def apply_marts(tx: Transaction, contract: Contract, *, strict: bool, actor: str) -> None:
    """Create, replace or drop the contract's marts in the adoption's transaction."""
    tx.marts.apply(
        contract.dataset, contract.marts, contract_version=contract.version, strict=strict, actor=actor
    )


class NoContract(ContractError):
    """The dataset has no contract file nor saved contract (``resolve_contract`` raises it)."""


def no_contract(services: Services, dataset: str) -> NoContract:
    known = known_datasets(services)
    return NoContract(
        f"no contract for dataset {dataset!r}",
        hint=(
            f"add contracts/{dataset}.json or save one with PUT /api/contracts/{dataset}; "
            f"datasets with a contract: {', '.join(known) or 'none'}"
        ),
        details={"dataset": dataset, "known_datasets": known},
    )


def known_datasets(services: Services) -> list[str]:
    """Datasets with a contract file or an adopted contract, sorted."""
    with services.store.read() as tx:
        stored = tx.contracts.datasets()
    return sorted(set(stored) | set(list_contracts(services.settings.contracts_dir)))


def ensure_has_contract(services: Services, dataset: str) -> None:
    """404 naming the datasets that have one, when ``dataset`` has no contract file nor saved contract."""
    if dataset not in known_datasets(services):
        raise not_found(no_contract(services, dataset))


def not_found(missing: NoContract) -> NotFound:
    """The 404 of a route whose dataset has no contract, with the hint naming the ones that have."""
    dataset = (missing.details or {}).get("dataset")
    return NotFound(f"dataset {dataset!r} has no contract", hint=missing.hint, details=missing.details)


def save_contract(
    services: Services,
    dataset: str,
    suite: Mapping[str, Any],
    *,
    base_version: str | None,
    actor: str,
    note: str | None = None,
) -> Saved:
    """Validate ``suite`` and make it the dataset's current contract.

    ``base_version`` is the version the editor started from; when another change landed since, the
    save is refused with 409 (and the current version), so two editors never overwrite each other
    unseen. It may be omitted only for a dataset without any contract yet.
    """
    contract = parse_suite(dataset, dict(suite))
    resolve_file_first(services, dataset)
    with services.store.transaction() as tx:
        current = tx.contracts.current(dataset)
        check_base_version(dataset, current, base_version)
        record, changed = tx.contracts.adopt(
            dataset=dataset,
            version=contract.version,
            body=contract.suite,
            source="api",
            actor=actor,
            note=note,
        )
        if changed:
            apply_marts(tx, contract, strict=True, actor=actor)  # a refused mart rolls the save back
    return Saved(contract, record, changed, current)


def resolve_file_first(services: Services, dataset: str) -> None:
    """Adopt a contract file edited since it was last read: the saver must see that change first."""
    if not (services.settings.contracts_dir / f"{dataset}.json").is_file():
        return
    try:
        resolve_contract(services, dataset)
    except ContractError as exc:
        # The broken file would win over the save at the next read: it has to be fixed or removed.
        raise Conflict(
            f"contracts/{dataset}.json is invalid, and a file always wins over older saves: {exc.message}",
            hint=f"fix or remove contracts/{dataset}.json, then save again",
            details={"dataset": dataset, "file_error": exc.to_dict()},
        ) from exc


def check_base_version(dataset: str, current: ContractRecord | None, base_version: str | None) -> None:
    if current is None:
        if base_version is not None:
            raise Conflict(
                f"dataset {dataset!r} has no contract yet, so base_version {base_version!r} is stale",
                hint="save without base_version to create the dataset's first contract",
                details={"dataset": dataset, "current_version": None},
            )
        return
    if base_version is None:
        raise Conflict(
            f"dataset {dataset!r} already has a contract (version {current.version})",
            hint=f"read it with GET /api/contracts/{dataset} and send its version as base_version",
            details={"dataset": dataset, "current_version": current.version},
        )
    if base_version != current.version:
        raise Conflict(
            f"the contract of {dataset!r} changed since version {base_version} "
            f"(now {current.version}, by {current.adopted_by})",
            hint=f"read the current one with GET /api/contracts/{dataset}, merge your change, save again",
            details={"dataset": dataset, "current_version": current.version},
        )


def stored_version(tx: Transaction, dataset: str, version: str) -> Row:
    """One stored version (``version``, ``body``, ``first_seen_at``); 404 naming how to list them."""
    row = tx.contracts.version(dataset, version)
    if row is None:
        raise NotFound(
            f"contract {dataset!r} has no version {version!r}",
            hint=f"list its versions with GET /api/contracts/{dataset}",
            details={"dataset": dataset, "version": version},
        )
    return row
