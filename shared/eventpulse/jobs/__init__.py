"""Maintenance jobs (Cloud Run jobs, CLI commands and ``/internal/admin`` endpoints share these cores).

``reclaim_stuck`` is ``eventpulse.pipeline.reclaim.reclaim_stale``; ``prune.py`` is retention;
``replay.py`` re-processes a dataset or a time range from raw. Each core takes the services and an
actor and records what it did in the audit log.
"""
