"""Process registered ingestions in a child process and report its peak memory (test_bombs.py).

Usage: python bomb_worker_helper.py INGESTION_ID...
Settings come from the environment, as the CLI reads them. Prints one JSON line per ingestion:
``{"id": ..., "status": ..., "seconds": ..., "max_rss_mib": ...}`` (peak RSS of the process so far).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import uuid

from eventpulse.bootstrap import build_services
from eventpulse.pipeline.processor import process_ingestion
from eventpulse.settings import Settings


def main() -> None:
    services = build_services(Settings.from_mapping(os.environ), migrate=False)
    try:
        for arg in sys.argv[1:]:
            started = time.monotonic()
            result = process_ingestion(services, uuid.UUID(arg), worker=f"bomb-helper:{os.getpid()}")
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            line = {
                "id": arg,
                "status": str(result.status),
                "seconds": round(time.monotonic() - started, 2),
                "max_rss_mib": peak_kib // 1024,
            }
            print(json.dumps(line), flush=True)
    finally:
        services.close()


if __name__ == "__main__":
    main()
