"""`eventpulse-edge`: run the agent, enroll, show the spool, or spool NDJSON readings from stdin.

Exit codes: 0 normal stop, 1 `enroll` could not reach the server (try again), 2 configuration error,
3 the agent cannot authenticate (an operator must act), 4 the server refused enrollment for good (bad enroll
token, revoked id, fingerprint mismatch, bad device id; an operator must act), 75 restart requested by
command. systemd's RestartPreventExitStatus keeps 2, 3 and 4 from restarting in a loop.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from eventpulse_edge import __version__
from eventpulse_edge.agent import Agent, AgentStopped, EnrollmentRefused, RestartRequested
from eventpulse_edge.client import EdgeClient, Retryable
from eventpulse_edge.config import ConfigError, EdgeConfig, load_config
from eventpulse_edge.logbuffer import RecentLines
from eventpulse_edge.spool import Spool

EXIT_CONFIG = 2
EXIT_AUTH = 3
EXIT_ENROLL_REFUSED = 4
EXIT_UNREACHABLE = 1
EXIT_RESTART = 75


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eventpulse-edge", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML file (default /etc/eventpulse-edge/config.toml)")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the agent (the default)")
    sub.add_parser("enroll", help="enroll now with the fleet enroll token and save the device token")
    sub.add_parser("status", help="print the spool's depth, bytes and counters as JSON")
    sub.add_parser("enqueue", help="spool NDJSON events read from stdin (for a real sensor script)")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"eventpulse-edge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs = _logging(config)
    try:
        return _dispatch(args.command or "run", config, logs)
    finally:
        logging.getLogger().removeHandler(logs)


def _dispatch(command: str, config: EdgeConfig, logs: RecentLines) -> int:
    with Spool(config.spool_path, max_bytes=config.max_spool_bytes) as spool:
        if command == "status":
            return _status(spool)
        if command == "enqueue":
            return _enqueue(spool, config)
        client = EdgeClient(config.server_url, config.device_id, timeout=config.http_timeout_s)
        agent = Agent(config, spool, client, logs=logs)
        try:
            if command == "enroll":
                agent.enroll()  # one attempt: an operator at a shell retries by hand
                return 0
            _stop_on_sigterm()  # before enrolling: its backoff waits must end on systemctl stop
            logging.getLogger("eventpulse_edge").info(
                "eventpulse-edge %s starting as %s (server %s, upload_mode %s)",
                __version__,
                config.device_id,
                config.server_url,
                config.upload_mode,
            )
            agent.ensure_token()
            agent.run()
        except Retryable as exc:  # only from the one-shot `enroll`: run retries with its backoff
            logging.getLogger("eventpulse_edge").error("enrollment failed, try again later: %s", exc)
            return EXIT_UNREACHABLE
        except EnrollmentRefused as exc:
            logging.getLogger("eventpulse_edge").error("stopped: %s", exc)
            return EXIT_ENROLL_REFUSED
        except AgentStopped as exc:
            logging.getLogger("eventpulse_edge").error("stopped: %s", exc)
            return EXIT_AUTH
        except RestartRequested as exc:
            logging.getLogger("eventpulse_edge").info("restart requested (%s)", exc)
            return EXIT_RESTART
        except KeyboardInterrupt:
            return 0
    return 0


def _logging(config: EdgeConfig) -> RecentLines:
    recent = RecentLines(config.log_lines_kept)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(recent)
    return recent


def _stop_on_sigterm() -> None:
    """systemd stops with SIGTERM: leave the loop as on Ctrl-C (every spool write is already committed)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _status(spool: Spool) -> int:
    report = {
        "spool_depth": spool.depth(),
        "spool_bytes": spool.used_bytes(),
        "max_bytes": spool.max_bytes,
        "pending_batches": len(spool.pending()),
        "dropped_events": spool.counter("dropped_events"),
        "rejected_events": spool.counter("rejected_events"),
        "sent_batches": spool.counter("sent_batches"),
    }
    print(json.dumps(report, indent=2))
    return 0


def _enqueue(spool: Spool, config: EdgeConfig) -> int:
    """One event per stdin line; its device_id must be this device's (the server would refuse others)."""
    stored = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("device_id") not in (None, config.device_id):
            print(
                f"line {number}: device_id {event.get('device_id')!r} is not {config.device_id!r}",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        event["device_id"] = config.device_id
        if "event_id" not in event:
            print(f"line {number}: event_id is required (a uuid4 made by the sensor script)", file=sys.stderr)
            return EXIT_CONFIG
        stored += spool.append(event)
    print(f"spooled {stored} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
