"""The cloud edge: what the Google Cloud functions call (signed URLs, finalize events, tasks)."""
