"""device_sweep (Cloud Run job, scheduled): silent-device alerts and command expiry.

A device silent for longer than its cadence x EVENTPULSE_DEVICE_SILENT_GRACE gets a ``silent`` alert;
one heard again has it resolved; queued or delivered commands past their expiry become ``expired``.
Exit 0 when the run completed (whatever it found), 1 on failure, 2 on bad settings or arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from eventpulse.jobs.device_sweep import sweep_devices
from eventpulse.runtime import EXIT_OK, echo, run_maintenance_job

if TYPE_CHECKING:
    from eventpulse.ports import Services

JOB = "device_sweep"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=JOB, description=__doc__.splitlines()[0])
    parser.parse_args(argv)

    def body(services: Services) -> int:
        echo(sweep_devices(services, actor=f"job:{JOB}").summary())
        return EXIT_OK

    return run_maintenance_job(JOB, body)


if __name__ == "__main__":
    sys.exit(main())
