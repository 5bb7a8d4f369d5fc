"""The agent loop: sample, spool, upload, heartbeat, fetch and run commands.

Every network step goes through one guard that turns the server's answers into the agent's reactions:
401 re-enrolls once (with the fleet enroll token, when one is configured) and otherwise stops the agent;
403 means the device is revoked, so uploading stops (readings keep going to the spool, bounded, in case an
operator un-revokes it), except 403 ``dataset_not_allowed``, which only holds the batches back; 429,
5xx and network errors wait an exponential backoff with full jitter. Time and randomness are injected
so the loop is tested without sleeping.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from eventpulse_edge import __version__
from eventpulse_edge.backoff import Backoff
from eventpulse_edge.client import (
    BucketLandingRequired,
    DatasetRefused,
    EdgeClient,
    EdgeError,
    NotAuthenticated,
    RemoteCommand,
    Retryable,
    Revoked,
)
from eventpulse_edge.config import EdgeConfig, read_secret, write_secret
from eventpulse_edge.logbuffer import RecentLines
from eventpulse_edge.sensors import SimulatedSensors, heartbeat_event
from eventpulse_edge.spool import Batch, Spool
from eventpulse_edge.updater import REQUEST_NAME, RESULT_NAME, valid_version

log = logging.getLogger("eventpulse_edge")

T = TypeVar("T")

MIN_SAMPLING_S = 1.0
MAX_SAMPLING_S = 86400.0
NDJSON_TYPE = "application/x-ndjson"
"""The content type a signed-URL batch is stored under (signed into the URL, so the PUT must match)."""
REMINT_STATUSES = (404, 422)
"""Finalize answers that mean "PUT the bytes again under a new object": never landed, or corrupted."""
MAX_LOG_OUTPUT_BYTES = 64 * 1024
"""upload_logs sends at most this many bytes (the newest lines): a command answer, not a log shipper."""
UPDATE_PENDING_BOUND_S = 15 * 60.0
"""An update request (or an installed-but-not-restarted result) pending this long is acked as failed."""


class AgentStopped(Exception):
    """The agent cannot go on (no way to authenticate); the message says what the operator must do."""


class EnrollmentRefused(AgentStopped):
    """The server refused enrollment for good (401, 403, 409, 400): retrying cannot help, an operator must."""


class RestartRequested(Exception):
    """The restart_agent command: exit so that systemd (Restart=always) starts a fresh process."""


class Sensors(Protocol):
    def sample(
        self, device_id: str, now: datetime | None = None, lat: float | None = None, lon: float | None = None
    ) -> list[dict[str, Any]]: ...

    def health(self) -> dict[str, Any]: ...


class Agent:
    def __init__(
        self,
        config: EdgeConfig,
        spool: Spool,
        client: EdgeClient,
        *,
        sensors: Sensors | None = None,
        logs: RecentLines | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        backoff: Backoff | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.spool = spool
        self.client = client
        self.sensors = sensors if sensors is not None else (SimulatedSensors() if config.simulate else None)
        self.logs = logs or RecentLines(config.log_lines_kept)
        self.clock = clock
        self.wall = wall
        self.backoff = backoff or Backoff(config.backoff_base_s, config.backoff_cap_s)
        self.rand = rand
        self.sampling_interval_s = self._saved_sampling_interval() or config.sampling_interval_s
        self.revoked = False
        self.upload_mode = config.upload_mode
        self.blocked_until = 0.0
        self.last_error = ""
        self._reported_drops = spool.counter("dropped_events")
        self._logged_drops = self._reported_drops
        self._unacked: dict[str, tuple[bool, str | None, str | None]] = {}
        self._update_seen: dict[tuple[str, str], float] = {}
        start = clock()
        self._due = {"sample": start, "upload": start, "heartbeat": start, "commands": start}

    # -- identity -------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """This device's enrollment secret, made once and kept in the state folder (mode 600)."""
        value = read_secret(self.config.fingerprint_path)
        if not value:
            value = secrets.token_hex(32)
            write_secret(self.config.fingerprint_path, value)
        return value

    def ensure_token(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Load the saved device token, or enroll when there is none (retrying what can be retried)."""
        token = read_secret(self.config.device_token_path)
        if token:
            self.client.device_token = token
            return
        self.enroll_until_done(sleep)

    def enroll_until_done(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Enroll, waiting the backoff (or a longer Retry-After) after each retryable failure.

        No network, a 5xx or a 429 at first boot is normal on a field link: crashing instead would let
        systemd restart the agent every few seconds and burn the server's enroll rate limit. A
        definitive refusal raises EnrollmentRefused (exit code 4) with what the operator must do.
        """
        while True:
            try:
                self.enroll()
            except Retryable as exc:
                delay = max(self.backoff.next_delay(), exc.retry_after or 0.0)
                log.warning("enrollment failed (%s); next try in %.1f s", exc, delay)
                sleep(delay)
                continue
            self.backoff.reset()
            return

    def enroll(self) -> None:
        """One enrollment attempt; Retryable for a failure worth retrying, EnrollmentRefused for a refusal."""
        enroll_token = self.config.fleet_enroll_token()
        if not enroll_token:
            raise AgentStopped(
                f"no device token in {self.config.device_token_path} and no enroll token configured "
                "(enroll_token_file or EVENTPULSE_EDGE_ENROLL_TOKEN): provision the device first"
            )
        try:
            result = self.client.enroll(enroll_token, self.fingerprint(), self.config.label)
        except Retryable:
            raise
        except EdgeError as exc:
            raise self._enrollment_refused(exc) from exc
        write_secret(self.config.device_token_path, result.device_token)
        log.info(
            "enrolled as %s (%s)", self.config.device_id, "new device" if result.created else "re-enrolled"
        )

    def _enrollment_refused(self, exc: EdgeError) -> Exception:
        """The one line an operator needs for a refused enrollment; a reply without a status is retried."""
        device = self.config.device_id
        if exc.status is None:  # e.g. a 2xx without a device_token: a broken proxy, worth another try
            return Retryable(str(exc))
        if exc.status == 401:
            todo = "the fleet enroll token was refused: put the current one into enroll_token_file"
        elif exc.status == 403:
            todo = (
                f"device id {device} is revoked on the server: an admin must delete it before it can enroll"
            )
        elif exc.status == 409:
            todo = (
                f"device id {device} is enrolled with another fingerprint (another device, or "
                f"{self.config.fingerprint_path} was lost): choose another device_id, or ask an admin to "
                "delete the old device"
            )
        elif exc.status == 400:
            todo = f"the server refused device_id {device!r}: fix device_id in the configuration"
        else:
            todo = "the server refused the enrollment"
        return EnrollmentRefused(f"enrollment refused ({exc.status}: {exc}); {todo}, then restart the agent")

    # -- the loop -------------------------------------------------------------------------------------

    def run(self, sleep: Callable[[float], None] = time.sleep, max_ticks: int | None = None) -> None:
        """Tick until stopped; sleeps until the next thing is due (at most 1 s, to stay responsive)."""
        ticks = 0
        while max_ticks is None or ticks < max_ticks:
            self.tick()
            ticks += 1
            wait = min(self._due.values()) - self.clock()
            sleep(min(1.0, max(0.05, wait)))

    def tick(self) -> None:
        now = self.clock()
        if now >= self._due["sample"]:
            self.sample()
            self._due["sample"] = now + self.sampling_interval_s
        if self.revoked or now < self.blocked_until:
            return
        if now >= self._due["heartbeat"]:
            self._step("heartbeat", self.heartbeat, self.config.heartbeat_interval_s, now)
        if now >= self._due["commands"] and self._network_ok():
            self._step("commands", self.run_commands, self.config.commands_interval_s, now)
        if now >= self._due["upload"] and self._network_ok():
            self._step("upload", self.upload, self._upload_interval(), now)

    def _upload_interval(self) -> float:
        """The wait before the next upload: ``upload_interval_s`` give or take ``upload_jitter`` of it.

        Devices powered up together (a site after a power cut) would otherwise keep uploading in the
        same instant every interval, for ever: the server sees a fleet-sized burst instead of a
        steady rate. A uniform draw around the interval lets their phases drift apart; the mean
        interval, so the rate, stays the configured one.
        """
        jitter = self.config.upload_jitter
        return self.config.upload_interval_s * (1 - jitter + 2 * jitter * self.rand())

    def _step(self, name: str, step: Callable[[], object], interval: float, now: float) -> None:
        """Run one due network step and schedule its next run.

        After a retryable failure the step stays due and the backoff (``blocked_until``) decides when it
        runs again. After a refusal retrying will not fix (say a 404 from a server without the commands
        routes) it waits its normal interval: staying due would repeat the refused request on every tick.
        """
        if self._guard(step) is not None or (not self.revoked and self.clock() >= self.blocked_until):
            self._due[name] = now + interval

    def sample(self) -> int:
        """Read the sensors into the spool; the number of events spooled."""
        if self.sensors is None:
            return 0
        events = self.sensors.sample(self.config.device_id, self.wall(), self.config.lat, self.config.lon)
        stored = sum(1 for event in events if self.spool.append(event))
        self._note_drops()
        return stored

    def upload(self) -> int:
        """Cut the spooled events into batches and upload every unsent batch, oldest first.

        A batch is forgotten only after 202 or 200. A batch the server refuses outright (4xx other than
        401/403/429) would block the queue forever, so it is set aside: counted as rejected and logged
        with the server's reason.
        """
        while self.spool.cut_batch(self.config.batch_max_events) is not None:
            pass
        sent = 0
        for batch in self.spool.pending():
            self.spool.mark_attempt(batch.batch_id)
            try:
                status, body = self._send_batch(batch)
            except (NotAuthenticated, Revoked, Retryable, DatasetRefused):
                raise
            except EdgeError as exc:
                self.spool.reject(batch.batch_id)
                log.error(
                    "server refused batch %s (%d events), set aside: %s", batch.batch_id, batch.n_events, exc
                )
                continue
            self.spool.acknowledge(batch.batch_id)
            sent += batch.n_events
            log.info(
                "uploaded %s: %d events, %s (ingestion %s)",
                batch.filename,
                batch.n_events,
                "accepted" if status == 202 else "already received",
                body.get("ingestion_id", "?"),
            )
        return sent

    def _send_batch(self, batch: Batch) -> tuple[int, dict[str, Any]]:
        """One batch by the configured mode; a server without a bucket turns signed_url into direct."""
        if self.upload_mode == "signed_url":
            try:
                return self._send_signed(batch)
            except BucketLandingRequired as exc:
                self.upload_mode = "direct"
                if batch.object_name:
                    self.spool.set_object_name(batch.batch_id, None)
                log.warning(
                    "upload_mode is signed_url but the server has no bucket landing (409 "
                    "bucket_landing_required: %s): uploading directly from now on; set upload_mode = "
                    '"direct" on this device to stop this warning',
                    exc,
                )
        return self.client.upload(self.config.dataset, batch.filename, batch.payload)

    def _send_signed(self, batch: Batch) -> tuple[int, dict[str, Any]]:
        """Mint, record the object name in the spool, PUT, finalize; after a restart, finalize first.

        The object name is in the spool before the PUT, so a crash or timeout after the PUT re-finalizes
        the same object. A 404 on that finalize means the object never landed (the PUT did not finish),
        so a new one is minted: names are create-only and random, and the server deduplicates by sha256,
        so a second copy of the same bytes is answered 200, never loaded twice.
        """
        if batch.object_name:
            try:
                return self._finalize(batch, batch.object_name)
            except Retryable as exc:
                if exc.status not in REMINT_STATUSES:
                    raise
                log.info("batch %s: %s; minting a new object", batch.batch_id, exc)
        signed = self.client.sign_upload(self.config.dataset, batch.filename, batch.sha256, NDJSON_TYPE)
        self.spool.set_object_name(batch.batch_id, signed.object_name)
        self.client.put_signed(signed, batch.payload)
        return self._finalize(batch, signed.object_name)

    def _finalize(self, batch: Batch, object_name: str) -> tuple[int, dict[str, Any]]:
        """Finalize one object; 404 (it never landed) or 422 (its bytes do not match the sha256) forgets
        the name and is Retryable: the spool still has the bytes, so they are PUT again under a new name
        rather than the batch being set aside."""
        try:
            return self.client.finalize_upload(object_name)
        except (NotAuthenticated, Revoked, Retryable, DatasetRefused, BucketLandingRequired):
            raise
        except EdgeError as exc:
            if exc.status not in REMINT_STATUSES:
                raise
            self.spool.set_object_name(batch.batch_id, None)
            raise Retryable(f"object {object_name} not finalized ({exc})", exc.status) from exc

    def health(self) -> dict[str, Any]:
        measured = self.sensors.health() if self.sensors is not None else {}
        drops = self.spool.counter("dropped_events")
        degraded = drops > self._reported_drops or bool(self.last_error)
        return {
            "battery_v": measured.get("battery_v"),
            "rssi_dbm": measured.get("rssi_dbm"),
            "firmware_version": self.config.firmware_version,
            "agent_version": __version__,
            "status": "degraded" if degraded else "ok",
            "lat": self.config.lat,
            "lon": self.config.lon,
            "spool_depth": self.spool.depth(),
        }

    def heartbeat(self) -> bool:
        health = self.health()
        self.client.heartbeat(health)
        self.spool.append(heartbeat_event(self.config.device_id, health, self.wall()))
        self._reported_drops = self.spool.counter("dropped_events")
        return True

    def run_commands(self) -> int:
        """Send acks still owed, then fetch, run and acknowledge new commands; how many ran."""
        for command_id, (ok, output, error) in list(self._unacked.items()):
            self._ack(command_id, ok, output, error)
        ran = 0
        for command in self.client.commands():
            outcome = self.execute(command)
            ran += 1
            if outcome is None:  # update_agent handed to the updater: acked after the restart
                continue
            ok, output, error = outcome
            self._unacked[command.command_id] = (ok, output, error)
            self._ack(command.command_id, ok, output, error)
            if command.kind == "restart_agent" and ok:
                raise RestartRequested(f"command {command.command_id}")
        return ran

    def _ack(self, command_id: str, ok: bool, output: str | None, error: str | None) -> None:
        """Send one ack and forget it; a retryable failure keeps it owed for the next contact.

        An ack the server refuses for good (404: the command is gone; 409: it already expired or was
        finished) is dropped with a warning: kept, it would be resent before every fetch and block the
        command channel for ever.
        """
        try:
            self.client.ack(command_id, ok, output, error)
        except (NotAuthenticated, Revoked, Retryable):
            raise
        except EdgeError as exc:
            log.warning("ack of command %s refused for good, not resent: %s", command_id, exc)
        del self._unacked[command_id]

    # -- commands -------------------------------------------------------------------------------------

    def execute(self, command: RemoteCommand) -> tuple[bool, str | None, str | None] | None:
        """Run one command; (ok, output, error) for its ack, or None for "not yet" (an update handed to
        the root updater: the server hands the unacked command out again after the restart). Never
        raises for a bad command."""
        log.info("command %s: %s %s", command.command_id, command.kind, command.params)
        try:
            if command.kind == "restart_agent":
                return True, "restarting", None
            if command.kind == "set_sampling_interval":
                return self._set_sampling_interval(command.params)
            if command.kind == "rotate_token":
                return self._rotate_token()
            if command.kind == "upload_logs":
                return True, self._recent_logs(command.params), None
            if command.kind == "update_agent":
                return self._update_agent(command.command_id, command.params)
            return False, None, f"unknown command {command.kind!r}"
        except (NotAuthenticated, Revoked, Retryable):
            raise
        except Exception as exc:  # a failing command is reported to the server, not a crash
            log.exception("command %s failed", command.command_id)
            return False, None, f"{type(exc).__name__}: {exc}"

    def _set_sampling_interval(self, params: dict[str, Any]) -> tuple[bool, str | None, str | None]:
        seconds = params.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return False, None, "params.seconds must be a number"
        if not MIN_SAMPLING_S <= float(seconds) <= MAX_SAMPLING_S:
            return False, None, f"params.seconds must be between {MIN_SAMPLING_S:g} and {MAX_SAMPLING_S:g}"
        self.sampling_interval_s = float(seconds)
        self._due["sample"] = min(self._due["sample"], self.clock() + self.sampling_interval_s)
        write_secret(self.config.state_dir / "overrides.json", json.dumps({"sampling_interval_s": seconds}))
        return True, f"sampling every {float(seconds):g} s", None

    def _rotate_token(self) -> tuple[bool, str | None, str | None]:
        """Re-enroll with this device's fingerprint: the server issues a new token and drops the old."""
        if not self.config.fleet_enroll_token():
            return False, None, "no enroll token configured on this device; rotate it from the admin API"
        self.enroll()
        return True, "token rotated", None

    def _update_agent(
        self, command_id: str, params: dict[str, Any]
    ) -> tuple[bool, str | None, str | None] | None:
        """Ask the root updater (eventpulse-edge-update.path) for a version, or ack what it did.

        The agent cannot install anything itself (its unit is ProtectSystem=strict, NoNewPrivileges): it
        writes the request and keeps running; the updater installs, writes the result and restarts the
        agent, and the redelivered command is acked here by what is running and what the result says.
        """
        version = params.get("version")
        if not valid_version(version):
            return False, None, f"params.version {str(version)[:64]!r} is not a plain release like 1.2.3"
        assert isinstance(version, str)
        state = self.config.state_dir
        request_path, result_path = state / REQUEST_NAME, state / RESULT_NAME
        result = self._read_json(result_path)
        result = result if result.get("command_id") == command_id else {}
        request = self._read_json(request_path)
        if __version__ == version:
            self._forget(command_id, result_path, request_path)
            return True, f"running {version}", None
        if result and not result.get("ok"):
            self._forget(command_id, result_path, request_path)
            return False, None, f"update to {version} failed: {result.get('error') or 'no reason given'}"
        if result:  # installed, but this process still runs the old version: the restart is under way
            if self._waited_too_long("result", command_id):
                self._forget(command_id, result_path, request_path)
                return False, None, f"the updater installed {version} but the agent still runs {__version__}"
            return None
        if request.get("command_id") == command_id:
            if self._waited_too_long("request", command_id):
                self._forget(command_id, result_path, request_path)
                return False, None, "the updater did not run: is eventpulse-edge-update.path enabled?"
            return None
        other = request.get("command_id")
        if isinstance(other, str) and not self._waited_too_long("request", other):
            return None  # another update is in progress: this one is handed out again after it
        body = {"command_id": command_id, "version": version, "requested_at": self.wall().isoformat()}
        write_secret(request_path, json.dumps(body))
        self._update_seen[("request", command_id)] = self.clock()
        log.info(
            "command %s: asked the updater for version %s (running %s); acked after the restart",
            command_id,
            version,
            __version__,
        )
        return None

    def _waited_too_long(self, what: str, command_id: str) -> bool:
        """Whether this process has seen that request (or result) pending for UPDATE_PENDING_BOUND_S.

        Measured on the monotonic clock from when this process first saw it, not from the wall-clock
        requested_at: a Pi without a real-time clock boots with a stale time and jumps when NTP syncs,
        which would otherwise fail an update the updater is running right now.
        """
        first = self._update_seen.setdefault((what, command_id), self.clock())
        return self.clock() - first > UPDATE_PENDING_BOUND_S

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        raw = read_secret(path)
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def _forget(self, command_id: str, *paths: Path) -> None:
        """Remove the request and result of this command (another command's files are left alone)."""
        for path in paths:
            if self._read_json(path).get("command_id") in (command_id, None):
                path.unlink(missing_ok=True)
        for key in [key for key in self._update_seen if key[1] == command_id]:
            del self._update_seen[key]

    def _recent_logs(self, params: dict[str, Any]) -> str:
        lines = params.get("lines", 500)
        count = lines if isinstance(lines, int) and not isinstance(lines, bool) and lines > 0 else 500
        text = "\n".join(self.logs.tail(count))
        data = text.encode("utf-8")
        if len(data) > MAX_LOG_OUTPUT_BYTES:
            text = data[-MAX_LOG_OUTPUT_BYTES:].decode("utf-8", errors="ignore").split("\n", 1)[-1]
        return text

    def _saved_sampling_interval(self) -> float | None:
        raw = read_secret(self.config.state_dir / "overrides.json")
        try:
            value = json.loads(raw).get("sampling_interval_s") if raw else None
        except (ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, int | float) and value > 0 else None

    # -- the guard ------------------------------------------------------------------------------------

    def _network_ok(self) -> bool:
        return not self.revoked and self.clock() >= self.blocked_until

    def _guard(self, step: Callable[[], T]) -> T | None:
        """Run one network step; its result, or None after reacting to the failure."""
        try:
            result = self._with_reenroll(step)
        except Revoked as exc:
            self.revoked = True
            log.error(
                "device %s is revoked or forbidden (403: %s): uploads stopped; readings stay in the spool "
                "(bounded). Un-revoke it on the server and restart the agent.",
                self.config.device_id,
                exc,
            )
            return None
        except DatasetRefused as exc:
            self.last_error = str(exc)
            log.error(
                "the server refuses dataset %s for device %s (403 dataset_not_allowed: %s): batches stay in "
                "the spool and are retried every upload interval; heartbeats and commands go on. An admin "
                "allows the dataset on the device (or fleet-wide, EVENTPULSE_EDGE_DATASETS), or set dataset.",
                self.config.dataset,
                self.config.device_id,
                exc,
            )
            return None
        except Retryable as exc:
            delay = max(self.backoff.next_delay(), exc.retry_after or 0.0)
            self.blocked_until = self.clock() + delay
            self.last_error = str(exc)
            log.warning("server unavailable (%s); next try in %.1f s", exc, delay)
            return None
        except EdgeError as exc:
            self.last_error = str(exc)
            log.error("%s", exc)
            return None
        self.backoff.reset()
        self.last_error = ""
        return result

    def _with_reenroll(self, step: Callable[[], T]) -> T:
        """Run the step; on 401 re-enroll once and run it again, or stop the agent saying why."""
        try:
            return step()
        except NotAuthenticated as exc:
            refused = exc
        where = self.config.device_token_path
        if not self.config.fleet_enroll_token():
            raise AgentStopped(
                f"the server refused the device token of {self.config.device_id} (401: {refused}) and no "
                f"enroll token is configured: put a new device token into {where}, or configure "
                "enroll_token_file, then restart the agent"
            ) from refused
        log.warning("device token refused (401); re-enrolling once")
        self.enroll()  # a refusal is EnrollmentRefused (exit 4); a Retryable backs off in _guard
        try:
            return step()
        except NotAuthenticated as exc:
            raise AgentStopped(
                f"the server still refuses {self.config.device_id} after re-enrollment ({exc})"
            ) from exc

    def _note_drops(self) -> None:
        drops = self.spool.counter("dropped_events")
        if drops > self._logged_drops:
            self._logged_drops = drops
            log.warning(
                "spool full (%d bytes): %d events dropped so far, oldest readings first",
                self.config.max_spool_bytes,
                drops,
            )
