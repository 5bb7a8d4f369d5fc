"""EventPulse edge agent: a field device's side of the `/api/edge/*` routes."""

__version__ = "0.1.0"
