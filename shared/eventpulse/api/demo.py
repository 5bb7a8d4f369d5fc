"""Demo seeding (local mode only): generate valid baseline files and register each one."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import Response, jsonify

from eventpulse.api.auth import current_actor
from eventpulse.api.context import current_services
from eventpulse.api.operations import Operations
from eventpulse.api.params import DatasetPath, SeedQuery
from eventpulse.api.present import present_ingestion
from eventpulse.api.resources import SeedResult
from eventpulse.api.roles import OPERATOR
from eventpulse.errors import BadRequest, NotFound
from eventpulse.landing.register import register_path

bp = Operations("demo", __name__, url_prefix="/api/demo")

MAX_SEED_FILES = 100


@bp.operation("POST", "/seed/<dataset>", access=OPERATOR, returns={202: SeedResult}, errors=(400, 404))
def seed(path: DatasetPath, query: SeedQuery) -> tuple[Response, int]:
    """Generate valid baseline rows for a demo dataset and register them as CSV files (local mode only)."""
    services = current_services()
    if services.settings.mode != "local":
        raise NotFound("demo endpoints exist only in local mode")
    from eventpulse.demo import generator

    dataset = path.dataset
    if dataset not in generator.DATASETS:
        raise BadRequest(
            f"no demo data for dataset {dataset[:80]!r}",
            hint=f"demo datasets: {', '.join(generator.DATASETS)}",
            details={"valid": list(generator.DATASETS)},
        )
    limit = query.limit
    per_file = query.per_ingestion_max or min(limit, 500)
    if -(-limit // per_file) > MAX_SEED_FILES:
        raise BadRequest(
            f"limit={limit} with per_ingestion_max={per_file} would make more than {MAX_SEED_FILES} files",
            hint=f"raise per_ingestion_max to at least {-(-limit // MAX_SEED_FILES)}",
        )
    services.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix="demo-seed-", dir=services.settings.tmp_dir))
    try:
        paths = generator.seed_files(dataset, out_dir, limit=limit, per_ingestion_max=per_file)
        rows = [
            register_path(services, path=p, dataset=dataset, source="demo", actor=current_actor()).ingestion
            for p in paths
        ]
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    items = [present_ingestion(r) for r in rows]
    return jsonify({"dataset": dataset, "rows": limit, "items": items, "total": len(items)}), 202
