"""reclaim_stuck (Cloud Run job, scheduled): queue again what would never finish.

A PROCESSING claim whose heartbeat is stale becomes FAILED_EXCEPTION and is enqueued; a RECEIVED
ingestion whose delivery was lost is enqueued; a live worker (fresh heartbeat) is never touched;
lineage events whose push failed are pushed again.
Exit 0 when the run completed (whatever it found), 1 on failure, 2 on bad settings or arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from eventpulse.pipeline.reclaim import reclaim_stale
from eventpulse.runtime import EXIT_OK, echo, run_maintenance_job

if TYPE_CHECKING:
    from eventpulse.ports import Services

JOB = "reclaim_stuck"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=JOB, description=__doc__.splitlines()[0])
    parser.add_argument("--older-than", type=float, help="seconds (default EVENTPULSE_STALE_AFTER_SECONDS)")
    args = parser.parse_args(argv)

    def body(services: Services) -> int:
        report = reclaim_stale(services, older_than_seconds=args.older_than, actor=f"job:{JOB}")
        for why, ids in (
            ("stale claim", report.stale),
            ("delivery lost", report.unqueued),
            ("retry", report.retried),
        ):
            for key in ids:
                echo(f"{key}  {why}")
        echo(
            f"reclaimed {len(report.stale)} stale, {len(report.unqueued)} lost, {len(report.retried)} retried"
        )
        echo(f"lineage: {report.lineage.sent} pushed, {report.lineage.failed} failed (retried later)")
        return EXIT_OK

    return run_maintenance_job(JOB, body)


if __name__ == "__main__":
    sys.exit(main())
