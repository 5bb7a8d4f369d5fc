"""The ``DeviceRegistry`` port on Postgres (the local default): tables of migration 0010.

Every method is one short transaction on the shared pooled engine, as the port requires (its cloud
adapter, Firestore, shares no transaction with the metadata store). Races are settled by the database:
``raise_alert`` upserts on the partial unique index of open alerts, ``set_token`` and
``finish_command`` are compare-and-set UPDATEs, ``deliver_commands`` is one UPDATE ... RETURNING.
Lists page by keyset (never OFFSET); a cursor is the base64 of the last item's ordering key.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.engine import RowMapping

from eventpulse.adapters.postgres.engine import is_reachable
from eventpulse.ports.devices import (
    Alert,
    AlertFilter,
    AlertKind,
    AlertLevel,
    Command,
    CommandFilter,
    CommandStatus,
    Device,
    DeviceFilter,
    DevicePage,
    Health,
    MediaObject,
    Threshold,
)

FLEET = ""
"""``device_thresholds.device_id`` of the fleet-wide defaults."""
UPDATABLE = {
    "label": "label",
    "group": "group_name",
    "datasets": "datasets",
    "cadence_seconds": "cadence_seconds",
    "status": "status",
    "revoked_at": "revoked_at",
    "revoked_by": "revoked_by",
}
HEALTH_FIELDS = tuple(f.name for f in dataclasses.fields(Health))
T = TypeVar("T")


def encode_cursor(*key: object) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in key])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The key a cursor holds; ValueError for one this adapter did not make."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the cursor is not valid; pass next_cursor from the previous page") from None
    if not isinstance(key, list) or len(key) != size:
        raise ValueError("the cursor is not valid; pass next_cursor from the previous page")
    return key


def _health(raw: Mapping[str, Any] | None) -> Health:
    values = dict(raw or {})
    reported = values.get("reported_at")
    if isinstance(reported, str):
        values["reported_at"] = datetime.fromisoformat(reported)
    return Health(**{k: values.get(k) for k in HEALTH_FIELDS})


def _device(row: RowMapping) -> Device:
    return Device(
        device_id=row["device_id"],
        status=row["status"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        token_hash=row["token_hash"],
        token_rotated_at=row["token_rotated_at"],
        fingerprint_hash=row["fingerprint_hash"],
        label=row["label"],
        group=row["group_name"],
        datasets=tuple(row["datasets"] or ()),
        cadence_seconds=row["cadence_seconds"],
        last_seen_at=row["last_seen_at"],
        health=_health(row["health"]),
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
        updated_at=row["updated_at"],
    )


def _alert(row: RowMapping) -> Alert:
    return Alert(
        alert_id=str(row["alert_id"]),
        device_id=row["device_id"],
        kind=row["kind"],
        sensor=row["sensor"],
        level=row["level"],
        message=row["message"],
        value=row["value"],
        limit=row["limit_value"],
        opened_at=row["opened_at"],
        last_at=row["last_at"],
        occurrences=row["occurrences"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
    )


def _command(row: RowMapping) -> Command:
    return Command(
        command_id=row["command_id"],
        device_id=row["device_id"],
        kind=row["kind"],
        params=row["params"] or {},
        status=row["status"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        group=row["group_name"],
        delivered_at=row["delivered_at"],
        finished_at=row["finished_at"],
        result=row["result"],
    )


def _media(row: RowMapping) -> MediaObject:
    return MediaObject(
        media_id=row["media_id"],
        device_id=row["device_id"],
        key=row["key"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        created_at=row["created_at"],
        sha256=row["sha256"],
        captured_at=row["captured_at"],
    )


def _health_json(health: Health) -> str:
    values = dataclasses.asdict(health)
    if health.reported_at is not None:
        values["reported_at"] = health.reported_at.isoformat()
    return json.dumps(values)


class Where:
    """The WHERE of one list query: clauses joined by AND, with their bound parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = ["TRUE"]
        self.params: dict[str, Any] = {}

    def add(self, clause: str, **params: Any) -> None:
        self.clauses.append(clause)
        self.params.update(params)

    def equal(self, column: str, value: object) -> None:
        """``column = value`` when a value is given (None: no filter)."""
        if value is not None:
            self.add(f"{column} = :{column}", **{column: value})

    def newest_before(self, cursor: str | None, time_column: str, id_column: str, id_type: str) -> None:
        """Keyset for newest-first lists: rows strictly after the cursor's (time, id) going down."""
        after = decode_cursor(cursor, 2)
        if after is not None:
            bound = f"(CAST(:after_at AS timestamptz), CAST(:after_id AS {id_type}))"
            self.add(
                f"({time_column}, {id_column}) < {bound}",
                after_at=after[0],
                after_id=after[1],
            )

    def sql(self) -> str:
        return " AND ".join(self.clauses)


def _page(
    engine: Engine,
    table: str,
    where: Where,
    *,
    order_by: str,
    limit: int,
    build: Callable[[RowMapping], T],
    key: Callable[[T], tuple[object, ...]],
) -> DevicePage[T]:
    """One keyset page: ``limit + 1`` rows tell whether there is a next page; its cursor is the key
    of the last item shown."""
    sql = f"SELECT * FROM {table} WHERE {where.sql()} ORDER BY {order_by} LIMIT :limit"
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {**where.params, "limit": limit + 1}).mappings().all()
    items = [build(r) for r in rows[:limit]]
    more = len(rows) > limit and items
    return DevicePage(items, encode_cursor(*key(items[-1])) if more else None)


class PostgresDeviceRegistry:
    def __init__(self, engine: Engine):
        self._engine = engine

    # --- devices ----------------------------------------------------------------------------------

    def create(self, device: Device) -> bool:
        with self._engine.begin() as conn:
            inserted = conn.execute(
                text(
                    """
                    INSERT INTO devices (device_id, status, label, group_name, datasets, cadence_seconds,
                        token_hash, token_rotated_at, fingerprint_hash, created_at, created_by,
                        last_seen_at, health, revoked_at, revoked_by, updated_at)
                    VALUES (:device_id, :status, :label, :group_name, CAST(:datasets AS jsonb),
                        :cadence_seconds, :token_hash, :token_rotated_at, :fingerprint_hash, :created_at,
                        :created_by, :last_seen_at, CAST(:health AS jsonb), :revoked_at, :revoked_by,
                        :updated_at)
                    ON CONFLICT (device_id) DO NOTHING
                    RETURNING device_id
                    """
                ),
                {
                    "device_id": device.device_id,
                    "status": device.status,
                    "label": device.label,
                    "group_name": device.group,
                    "datasets": json.dumps(list(device.datasets)),
                    "cadence_seconds": device.cadence_seconds,
                    "token_hash": device.token_hash,
                    "token_rotated_at": device.token_rotated_at,
                    "fingerprint_hash": device.fingerprint_hash,
                    "created_at": device.created_at,
                    "created_by": device.created_by,
                    "last_seen_at": device.last_seen_at,
                    "health": _health_json(device.health),
                    "revoked_at": device.revoked_at,
                    "revoked_by": device.revoked_by,
                    "updated_at": device.updated_at,
                },
            ).first()
        return inserted is not None

    def get(self, device_id: str) -> Device | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM devices WHERE device_id = :d"), {"d": device_id})
                .mappings()
                .first()
            )
        return None if row is None else _device(row)

    def find_by_token_hash(self, token_hash: str) -> Device | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM devices WHERE token_hash = :h"), {"h": token_hash})
                .mappings()
                .first()
            )
        return None if row is None else _device(row)

    def page(self, where: DeviceFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Device]:
        sql = Where()
        sql.equal("status", where.status)
        sql.equal("group_name", where.group)
        if where.search:
            sql.add(
                "(lower(device_id) LIKE :prefix ESCAPE '\\' OR lower(label) LIKE :prefix ESCAPE '\\')",
                prefix=_like_prefix(where.search),
            )
        if where.seen_before is not None:
            sql.add("(last_seen_at IS NULL OR last_seen_at < :seen_before)", seen_before=where.seen_before)
        if where.seen_after is not None:
            sql.add("last_seen_at >= :seen_after", seen_after=where.seen_after)
        after = decode_cursor(cursor, 1)
        if after is not None:
            sql.add("device_id > :after", after=after[0])
        return _page(
            self._engine,
            "devices",
            sql,
            order_by="device_id",
            limit=limit,
            build=_device,
            key=lambda d: (d.device_id,),
        )

    def set_token(
        self,
        device_id: str,
        *,
        token_hash: str,
        rotated_at: datetime,
        expected_token_hash: str | None = None,
        fingerprint_hash: str | None = None,
    ) -> bool:
        with self._engine.begin() as conn:
            row = conn.execute(
                text(
                    """
                    UPDATE devices SET token_hash = :token_hash, token_rotated_at = :at, updated_at = :at,
                        fingerprint_hash = COALESCE(:fingerprint_hash, fingerprint_hash)
                    WHERE device_id = :device_id AND status = 'active'
                      AND (CAST(:expected AS text) IS NULL OR token_hash = :expected)
                    RETURNING device_id
                    """
                ),
                {
                    "token_hash": token_hash,
                    "at": rotated_at,
                    "fingerprint_hash": fingerprint_hash,
                    "device_id": device_id,
                    "expected": expected_token_hash,
                },
            ).first()
        return row is not None

    def update(self, device_id: str, *, at: datetime, **fields: Any) -> Device | None:
        unknown = set(fields) - set(UPDATABLE)
        if unknown:
            raise TypeError(f"device field(s) {sorted(unknown)} cannot be changed")
        sets: list[str] = ["updated_at = :at"]
        params: dict[str, Any] = {"at": at, "device_id": device_id}
        for name, value in fields.items():
            column = UPDATABLE[name]
            if name == "datasets":
                sets.append(f"{column} = CAST(:{column} AS jsonb)")
                params[column] = json.dumps(list(value))
            else:
                sets.append(f"{column} = :{column}")
                params[column] = value
        sql = f"UPDATE devices SET {', '.join(sets)} WHERE device_id = :device_id RETURNING *"
        with self._engine.begin() as conn:
            row = conn.execute(text(sql), params).mappings().first()
        return None if row is None else _device(row)

    def delete(self, device_id: str) -> bool:
        with self._engine.begin() as conn:
            conn.execute(text("DELETE FROM device_thresholds WHERE device_id = :d"), {"d": device_id})
            row = conn.execute(
                text("DELETE FROM devices WHERE device_id = :d RETURNING device_id"), {"d": device_id}
            ).first()
        return row is not None

    def touch(self, device_id: str, *, at: datetime, health: Health | None = None) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    """
                    UPDATE devices SET last_seen_at = GREATEST(last_seen_at, :at),
                        health = COALESCE(CAST(:health AS jsonb), health)
                    WHERE device_id = :device_id
                    """
                ),
                {
                    "at": at,
                    "device_id": device_id,
                    "health": None if health is None else _health_json(health),
                },
            )

    # --- thresholds -------------------------------------------------------------------------------

    def set_thresholds(self, device_id: str | None, thresholds: Sequence[Threshold]) -> None:
        scope = FLEET if device_id is None else device_id
        with self._engine.begin() as conn:
            conn.execute(text("DELETE FROM device_thresholds WHERE device_id = :d"), {"d": scope})
            for t in thresholds:
                conn.execute(
                    text(
                        "INSERT INTO device_thresholds (device_id, sensor, direction, warning, critical) "
                        "VALUES (:d, :sensor, :direction, :warning, :critical)"
                    ),
                    {"d": scope, **dataclasses.asdict(t)},
                )

    def thresholds(self, device_id: str | None) -> list[Threshold]:
        scope = FLEET if device_id is None else device_id
        with self._engine.connect() as conn:
            rows = (
                conn.execute(
                    text(
                        "SELECT sensor, direction, warning, critical FROM device_thresholds "
                        "WHERE device_id = :d ORDER BY sensor"
                    ),
                    {"d": scope},
                )
                .mappings()
                .all()
            )
        return [Threshold(**dict(r)) for r in rows]

    # --- alerts -----------------------------------------------------------------------------------

    def raise_alert(
        self,
        *,
        device_id: str,
        kind: AlertKind,
        sensor: str,
        level: AlertLevel,
        message: str,
        value: float | None,
        limit: float | None,
        at: datetime,
    ) -> Alert:
        with self._engine.begin() as conn:
            row = (
                conn.execute(
                    text(
                        """
                        INSERT INTO device_alerts (alert_id, device_id, kind, sensor, level, message, value,
                            limit_value, opened_at, last_at, occurrences)
                        VALUES (:alert_id, :device_id, :kind, :sensor, :level, :message, :value, :limit,
                            :at, :at, 1)
                        ON CONFLICT (device_id, kind, sensor) WHERE resolved_at IS NULL DO UPDATE SET
                            level = EXCLUDED.level, message = EXCLUDED.message, value = EXCLUDED.value,
                            limit_value = EXCLUDED.limit_value,
                            last_at = GREATEST(device_alerts.last_at, EXCLUDED.last_at),
                            occurrences = device_alerts.occurrences + 1
                        RETURNING *
                        """
                    ),
                    {
                        "alert_id": uuid.uuid4(),
                        "device_id": device_id,
                        "kind": kind,
                        "sensor": sensor,
                        "level": level,
                        "message": message,
                        "value": value,
                        "limit": limit,
                        "at": at,
                    },
                )
                .mappings()
                .one()
            )
        return _alert(row)

    def resolve_alerts(self, *, device_id: str, kind: AlertKind, sensor: str, at: datetime) -> int:
        with self._engine.begin() as conn:
            result = conn.execute(
                text(
                    "UPDATE device_alerts SET resolved_at = :at WHERE device_id = :d AND kind = :kind "
                    "AND sensor = :sensor AND resolved_at IS NULL"
                ),
                {"at": at, "d": device_id, "kind": kind, "sensor": sensor},
            )
        return int(result.rowcount)

    def alerts(self, where: AlertFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Alert]:
        sql = Where()
        sql.equal("device_id", where.device_id)
        if where.open_only:
            sql.add("resolved_at IS NULL")
        if where.unacknowledged_only:
            sql.add("acknowledged_at IS NULL")
        sql.equal("kind", where.kind)
        sql.equal("level", where.level)
        sql.newest_before(cursor, "opened_at", "alert_id", "uuid")
        return _page(
            self._engine,
            "device_alerts",
            sql,
            order_by="opened_at DESC, alert_id DESC",
            limit=limit,
            build=_alert,
            key=lambda a: (a.opened_at, a.alert_id),
        )

    def acknowledge_alert(self, alert_id: str, *, actor: str, at: datetime) -> Alert | None:
        try:
            key = uuid.UUID(alert_id)
        except ValueError:
            return None
        with self._engine.begin() as conn:
            row = (
                conn.execute(
                    text(
                        """
                        UPDATE device_alerts SET acknowledged_at = COALESCE(acknowledged_at, :at),
                            acknowledged_by = COALESCE(acknowledged_by, :actor)
                        WHERE alert_id = :id RETURNING *
                        """
                    ),
                    {"at": at, "actor": actor, "id": key},
                )
                .mappings()
                .first()
            )
        return None if row is None else _alert(row)

    # --- commands ---------------------------------------------------------------------------------

    def queue_command(self, command: Command) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    """
                    INSERT INTO device_commands (command_id, device_id, kind, params, status, group_name,
                        created_by, created_at, expires_at, delivered_at, finished_at, result)
                    VALUES (:command_id, :device_id, :kind, CAST(:params AS jsonb), :status, :group_name,
                        :created_by, :created_at, :expires_at, :delivered_at, :finished_at,
                        CAST(:result AS jsonb))
                    """
                ),
                {
                    "command_id": command.command_id,
                    "device_id": command.device_id,
                    "kind": command.kind,
                    "params": json.dumps(dict(command.params)),
                    "status": command.status,
                    "group_name": command.group,
                    "created_by": command.created_by,
                    "created_at": command.created_at,
                    "expires_at": command.expires_at,
                    "delivered_at": command.delivered_at,
                    "finished_at": command.finished_at,
                    "result": None if command.result is None else json.dumps(dict(command.result)),
                },
            )

    def get_command(self, command_id: str) -> Command | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM device_commands WHERE command_id = :c"), {"c": command_id})
                .mappings()
                .first()
            )
        return None if row is None else _command(row)

    def deliver_commands(self, device_id: str, *, now: datetime, limit: int) -> list[Command]:
        with self._engine.begin() as conn:
            rows = (
                conn.execute(
                    text(
                        """
                        WITH due AS (
                            SELECT command_id FROM device_commands
                            WHERE device_id = :d AND status IN ('queued', 'delivered') AND expires_at > :now
                            ORDER BY created_at, command_id LIMIT :limit FOR UPDATE
                        )
                        UPDATE device_commands c
                        SET status = 'delivered', delivered_at = COALESCE(c.delivered_at, :now)
                        FROM due WHERE c.command_id = due.command_id
                        RETURNING c.*
                        """
                    ),
                    {"d": device_id, "now": now, "limit": limit},
                )
                .mappings()
                .all()
            )
        return sorted((_command(r) for r in rows), key=lambda c: (c.created_at, c.command_id))

    def finish_command(
        self,
        command_id: str,
        *,
        expected: Sequence[CommandStatus],
        status: CommandStatus,
        at: datetime,
        result: Mapping[str, Any] | None = None,
    ) -> Command | None:
        with self._engine.begin() as conn:
            row = (
                conn.execute(
                    text(
                        """
                        UPDATE device_commands SET status = :status, finished_at = :at,
                            result = CAST(:result AS jsonb)
                        WHERE command_id = :c AND status = ANY(:expected)
                        RETURNING *
                        """
                    ),
                    {
                        "status": status,
                        "at": at,
                        "result": None if result is None else json.dumps(dict(result)),
                        "c": command_id,
                        "expected": list(expected),
                    },
                )
                .mappings()
                .first()
            )
        return None if row is None else _command(row)

    def commands(self, where: CommandFilter, *, limit: int, cursor: str | None = None) -> DevicePage[Command]:
        sql = Where()
        sql.equal("device_id", where.device_id)
        sql.equal("status", where.status)
        sql.newest_before(cursor, "created_at", "command_id", "text")
        return _page(
            self._engine,
            "device_commands",
            sql,
            order_by="created_at DESC, command_id DESC",
            limit=limit,
            build=_command,
            key=lambda c: (c.created_at, c.command_id),
        )

    def expire_commands(self, *, now: datetime) -> int:
        with self._engine.begin() as conn:
            result = conn.execute(
                text(
                    """
                    UPDATE device_commands SET status = 'expired', finished_at = :now,
                        result = jsonb_build_object('reason', 'the device did not acknowledge it in time')
                    WHERE status IN ('queued', 'delivered') AND expires_at <= :now
                    """
                ),
                {"now": now},
            )
        return int(result.rowcount)

    # --- media ------------------------------------------------------------------------------------

    def add_media(self, media: MediaObject) -> bool:
        with self._engine.begin() as conn:
            row = conn.execute(
                text(
                    """
                    INSERT INTO device_media (media_id, device_id, key, content_type, size_bytes, sha256,
                        created_at, captured_at)
                    VALUES (:media_id, :device_id, :key, :content_type, :size_bytes, :sha256, :created_at,
                        :captured_at)
                    ON CONFLICT DO NOTHING RETURNING media_id
                    """
                ),
                dataclasses.asdict(media),
            ).first()
        return row is not None

    def media(
        self, device_id: str | None, *, limit: int, cursor: str | None = None
    ) -> DevicePage[MediaObject]:
        sql = Where()
        sql.equal("device_id", device_id)
        sql.newest_before(cursor, "created_at", "media_id", "text")
        return _page(
            self._engine,
            "device_media",
            sql,
            order_by="created_at DESC, media_id DESC",
            limit=limit,
            build=_media,
            key=lambda m: (m.created_at, m.media_id),
        )

    # --- health -----------------------------------------------------------------------------------

    def is_reachable(self) -> bool:
        return is_reachable(self._engine)

    def close(self) -> None:
        """Nothing of its own: the engine belongs to the metadata store, which disposes of it."""


def _like_prefix(search: str) -> str:
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
