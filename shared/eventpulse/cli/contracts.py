"""``eventpulse contracts list|show|diff|validate|save|dry-run``: work on contracts from the terminal.

The commands speak to the metadata store directly (like ``eventpulse ingestions``); ``save`` is
audited with actor ``cli``. ``dry-run`` prints each file's outcome as soon as it is known.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from eventpulse.cli.common import EXIT_FAILED, build_cli_services, fail_with, load_settings
from eventpulse.errors import ContractError, EventPulseError

T = TypeVar("T")


def _with_services(action: Callable[[Any], T]) -> T:
    services = build_cli_services(load_settings())
    try:
        return action(services)
    except EventPulseError as exc:
        fail_with(exc)
    finally:
        services.close()


def _read_suite(dataset: str, file: Path) -> dict[str, Any]:
    try:
        suite = json.loads(file.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail_with(ContractError(f"cannot read {file} as JSON: {exc}", hint="write a GX suite as JSON"))
    if not isinstance(suite, dict):
        fail_with(ContractError(f"{file} holds no JSON object", hint="write a GX suite as JSON"))
    return suite


def _echo_json(value: Any) -> None:
    from eventpulse.api.present import to_json_value

    click.echo(json.dumps(value, default=to_json_value, ensure_ascii=False, indent=2))


@click.group()
def contracts() -> None:
    """Read, check, save and try out dataset contracts."""


@contracts.command("list")
def list_contracts() -> None:
    """Every dataset's current contract version, and where it came from."""
    from eventpulse.contracts.registry import known_datasets, resolve_contract

    def run(services: Any) -> None:
        for dataset in known_datasets(services):
            try:
                contract = resolve_contract(services, dataset)
            except ContractError as exc:
                click.echo(f"{dataset:<24} INVALID  {exc.message}")
                continue
            with services.store.read() as tx:
                record = tx.contracts.current(dataset)
            source = f"{record.source} by {record.adopted_by}" if record else ""
            click.echo(f"{dataset:<24} {contract.version[:12]}  {source}")

    _with_services(run)


@contracts.command("show")
@click.argument("dataset")
def show_contract(dataset: str) -> None:
    """The current suite and its version history, as JSON."""
    from eventpulse.contracts.registry import resolve_contract

    def run(services: Any) -> None:
        contract = resolve_contract(services, dataset)
        with services.store.read() as tx:
            history = tx.contracts.history(dataset)
        _echo_json(
            {"dataset": dataset, "version": contract.version, "suite": contract.suite, "history": history}
        )

    _with_services(run)


@contracts.command("validate")
@click.argument("dataset")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate_contract(dataset: str, file: Path) -> None:
    """Check FILE as DATASET's contract without saving it; print what it would change."""
    from eventpulse.contracts.diff import diff_suites
    from eventpulse.contracts.loader import parse_suite
    from eventpulse.contracts.registry import resolve_contract

    suite = _read_suite(dataset, file)

    def run(services: Any) -> None:
        candidate = parse_suite(dataset, suite)
        try:
            current = resolve_contract(services, dataset)
        except ContractError:
            current = None
        changes = diff_suites(current.suite if current else None, candidate.suite)
        click.echo(f"valid: version {candidate.version}")
        for change in changes:
            click.echo(f"  {change['kind']:<22} {change['path']}")
        if not changes:
            click.echo("  no change from the current contract")

    _with_services(run)


@contracts.command("save")
@click.argument("dataset")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--base-version", help="The version you edited (see `eventpulse contracts show`).")
@click.option("--note", help="Why: kept with the version.")
def save_contract_command(dataset: str, file: Path, base_version: str | None, note: str | None) -> None:
    """Make FILE DATASET's current contract (like PUT /api/contracts/<dataset>)."""
    from eventpulse.contracts.registry import save_contract

    suite = _read_suite(dataset, file)
    saved = _with_services(
        lambda services: save_contract(
            services, dataset, suite, base_version=base_version, actor="cli", note=note
        )
    )
    state = "saved" if saved.changed else "unchanged"
    click.echo(f"{state}: {dataset} is now version {saved.record.version} (was {saved.previous_version})")


@contracts.command("dry-run")
@click.argument("dataset")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--last", default=5, show_default=True, type=click.IntRange(1, 50), help="The last N files.")
@click.option("--ingestion", "ingestion_ids", multiple=True, help="These ingestions' files instead.")
@click.option("--max-seconds", default=60.0, show_default=True, type=click.FloatRange(0, 300, min_open=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line (files, then summary).")
def dry_run_command(
    dataset: str,
    file: Path | None,
    last: int,
    ingestion_ids: tuple[str, ...],
    max_seconds: float,
    as_json: bool,
) -> None:
    """What FILE (a candidate contract; default: the current one) would do to DATASET's files. Writes nothing.

    Exits 1 when a file would end in another state than it did.
    """
    from eventpulse.contracts.loader import parse_suite
    from eventpulse.contracts.registry import resolve_contract
    from eventpulse.pipeline.dry_run import DryRunRequest, dry_run

    try:
        ids = tuple(uuid.UUID(i) for i in ingestion_ids)
    except ValueError:
        raise click.BadParameter("--ingestion takes ingestion ids (UUIDs)") from None
    suite = _read_suite(dataset, file) if file else None

    def run(services: Any) -> dict[str, Any]:
        contract = parse_suite(dataset, suite) if suite is not None else resolve_contract(services, dataset)
        request = DryRunRequest(dataset, contract, last=last, ingestion_ids=ids, max_seconds=max_seconds)
        summary: dict[str, Any] = {}
        for item in dry_run(services, request):
            if as_json:
                from eventpulse.api.present import to_json_value

                click.echo(json.dumps(item, default=to_json_value, ensure_ascii=False))
            elif item["type"] == "file":
                _echo_file(item)
            if item["type"] == "summary":
                summary = item
        return summary

    summary = _with_services(run)
    if not as_json:
        click.echo(
            f"{summary['evaluated']} of {summary['files']} files in {summary['seconds']} s: would "
            f"{summary['would_status']}, load {summary['rows_would_load']:,} rows "
            f"({summary['rows_loaded_actually']:,} loaded); {summary['files_changing_status']} change state",
            err=True,
        )
    if summary.get("files_changing_status"):
        sys.exit(EXIT_FAILED)


def _echo_file(item: dict[str, Any]) -> None:
    done, total = item["progress"]["done"], item["progress"]["total"]
    head = f"[{done}/{total}] {item['ingestion_id']} {item['filename']}"
    if item["skipped"]:
        click.echo(f"{head}: skipped ({item['skipped']})")
        return
    would, actual = item["would"], item["actual"]
    rows = f"rows {actual['rows_loaded']} -> {would['rows_loaded']}"
    click.echo(f"{head}: {actual['status']} -> {would['status']}, {rows}")
    for expectation in would.get("expectations", []):
        if not expectation["success"]:
            column = expectation["kwargs"].get("column") or expectation["kwargs"].get("column_list") or ""
            click.echo(
                f"    {expectation['severity']:<8} {expectation['expectation_type']}({column}): "
                f"{expectation['unexpected_count']} failing rows"
            )
