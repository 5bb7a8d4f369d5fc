"""EventPulse: an event-driven data platform for files and edge telemetry."""

__version__ = "0.1.0"
