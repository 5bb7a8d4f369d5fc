"""replay (Cloud Run job, manual): re-process a dataset, or a created_at range of it, from raw.

One new ingestion per original; progress n/total on stdout, then a summary. Exit 0 when every
selected ingestion was replayed (or skipped as in flight), 1 when some failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from eventpulse.jobs.replay import parse_instant, replay_range
from eventpulse.runtime import EXIT_FAILED, EXIT_OK, echo, run_maintenance_job

if TYPE_CHECKING:
    from eventpulse.ports import Services

JOB = "replay"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=JOB, description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--since", help="ISO 8601, inclusive (created_at)")
    parser.add_argument("--until", help="ISO 8601, exclusive (created_at)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    args = parser.parse_args(argv)

    def body(services: Services) -> int:
        report = replay_range(
            services,
            dataset=args.dataset,
            since=parse_instant(args.since, "since"),
            until=parse_instant(args.until, "until"),
            actor=f"job:{JOB}",
            dry_run=args.dry_run,
            progress=lambda n, total, row, outcome: echo(f"[{n}/{total}] {row['id']} {outcome}"),
        )
        echo(report.summary())
        return EXIT_FAILED if report.failed else EXIT_OK

    return run_maintenance_job(JOB, body)


if __name__ == "__main__":
    sys.exit(main())
