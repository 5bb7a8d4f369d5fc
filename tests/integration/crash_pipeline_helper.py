"""Process one already-registered ingestion in a child process (test_crash_recovery.py SIGKILLs it).

Usage: python crash_pipeline_helper.py INGESTION_ID [INGESTION_ID ...] (processed in order)
Settings come from the environment, exactly as the CLI reads them (DATABASE_URL, EVENTPULSE_DATA_DIR,
EVENTPULSE_CONTRACTS_DIR, EVENTPULSE_BATCH_ROWS, ...). Prints ``worker <id>`` before processing.
"""

from __future__ import annotations

import os
import sys
import uuid

from eventpulse.bootstrap import build_services
from eventpulse.pipeline.processor import process_ingestion
from eventpulse.settings import Settings


def main() -> None:
    services = build_services(Settings.from_mapping(os.environ), migrate=False)
    worker = f"crash-helper:{os.getpid()}"
    print("worker", worker, flush=True)
    try:
        for raw in sys.argv[1:]:
            result = process_ingestion(services, uuid.UUID(raw), worker=worker)
            print("finished", raw, result.status, flush=True)
    finally:
        services.close()


if __name__ == "__main__":
    main()
