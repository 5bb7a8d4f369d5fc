"""prune_retention (Cloud Run job, scheduled): delete audit events and final ingestions older than N days.

Dry run unless --apply. Raw objects only with --include-raw, and only those no remaining ingestion
references. Curated rows are never touched. Exit 0 done, 1 failed, 2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from eventpulse.jobs.prune import format_report, prune_retention
from eventpulse.runtime import EXIT_OK, echo, run_maintenance_job

if TYPE_CHECKING:
    from eventpulse.ports import Services

JOB = "prune_retention"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=JOB, description=__doc__.splitlines()[0])
    parser.add_argument("--older-than-days", type=int, required=True, help="age in days (at least 1)")
    parser.add_argument("--apply", action="store_true", help="delete (default: only say what would go)")
    parser.add_argument("--include-raw", action="store_true", help="also delete unreferenced raw objects")
    args = parser.parse_args(argv)

    def body(services: Services) -> int:
        report = prune_retention(
            services,
            older_than_days=args.older_than_days,
            apply=args.apply,
            include_raw=args.include_raw,
            actor=f"job:{JOB}",
        )
        format_report(report, echo)
        return EXIT_OK

    return run_maintenance_job(JOB, body)


if __name__ == "__main__":
    sys.exit(main())
