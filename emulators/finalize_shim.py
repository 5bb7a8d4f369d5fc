"""Eventarc stand-in: turn new object generations in the emulator's bucket into finalize CloudEvents.

No GCS emulator emits object-finalize events to an HTTP target, so this shim polls the bucket (the
JSON API's object listing), remembers every (name, generation) it has delivered, and POSTs one
binary-mode CloudEvent per new generation to the target, as Eventarc does for
``google.cloud.storage.object.v1.finalized``: ``ce-*`` headers, and the object resource
(StorageObjectData JSON) as the body. A delivery that does not get a 2xx is retried on the next
poll, as Eventarc retries; the event id is stable per generation, so a retry is recognisable.

    python emulators/finalize_shim.py --endpoint http://127.0.0.1:4443 --bucket eventpulse-raw \\
        --target http://127.0.0.1:8082/ [--once]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

FINALIZED = "google.cloud.storage.object.v1.finalized"
DEFAULT_STATE = Path(__file__).resolve().parent.parent / "data" / "emulators" / "finalize_shim.json"

log = logging.getLogger("finalize_shim")


class Cursor:
    """The (name, generation) pairs already delivered, kept in a JSON file between runs."""

    def __init__(self, path: Path | None):
        self.path = path
        self.seen: set[tuple[str, int]] = set()
        if path is not None and path.is_file():
            self.seen = {(name, int(gen)) for name, gen in json.loads(path.read_text())}

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self.seen

    def add(self, key: tuple[str, int]) -> None:
        self.seen.add(key)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(sorted(self.seen)))
            tmp.replace(self.path)


def list_objects(endpoint: str, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
    """Every live object resource in the bucket (all pages)."""
    objects: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = {"prefix": prefix, **({"pageToken": token} if token else {})}
        url = f"{endpoint}/storage/v1/b/{quote(bucket, safe='')}/o?{urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            page = json.load(resp)
        objects.extend(page.get("items") or [])
        token = page.get("nextPageToken")
        if not token:
            return objects


def build_event(obj: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a binary-mode CloudEvent for one object, shaped as Eventarc sends it."""
    bucket, name, generation = obj["bucket"], obj["name"], str(obj["generation"])
    event_id = str(int(hashlib.sha256(f"{bucket}/{name}#{generation}".encode()).hexdigest()[:15], 16))
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": FINALIZED,
        "ce-subject": f"objects/{name}",
        "ce-time": obj.get("updated") or obj.get("timeCreated") or "",
        "ce-bucket": bucket,
        "content-type": "application/json; charset=utf-8",
    }
    data = {"kind": "storage#object", **obj, "generation": generation}
    for key in ("size", "metageneration"):  # int64 fields travel as strings
        if key in data and data[key] is not None:
            data[key] = str(data[key])
    return headers, json.dumps(data).encode()


def deliver(target_url: str, headers: dict[str, str], body: bytes) -> bool:
    request = urllib.request.Request(target_url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return bool(200 <= resp.status < 300)
    except urllib.error.HTTPError as exc:
        log.warning("target answered %s for %s; retried on the next poll", exc.code, headers["ce-subject"])
    except (urllib.error.URLError, OSError) as exc:
        log.warning("target unreachable (%s); retried on the next poll", exc)
    return False


def poll_once(endpoint: str, bucket: str, target_url: str, cursor: Cursor, prefix: str = "") -> int:
    """Deliver one event per object generation not delivered yet; returns how many were delivered."""
    delivered = 0
    for obj in sorted(list_objects(endpoint, bucket, prefix), key=lambda o: int(o["generation"])):
        key = (obj["name"], int(obj["generation"]))
        if key in cursor:
            continue
        headers, body = build_event(obj)
        if deliver(target_url, headers, body):
            cursor.add(key)
            delivered += 1
    return delivered


def run(
    bucket: str,
    target_url: str,
    once: bool = False,
    *,
    endpoint: str = "http://127.0.0.1:4443",
    prefix: str = "",
    interval_s: float = 1.0,
    state_path: Path | None = DEFAULT_STATE,
    cursor: Cursor | None = None,
) -> int:
    """Poll and deliver (forever, or one pass with ``once``); returns the events delivered."""
    cursor = cursor or Cursor(state_path)
    total = 0
    while True:
        try:
            total += poll_once(endpoint, bucket, target_url, cursor, prefix)
        except (urllib.error.URLError, OSError) as exc:
            if once:
                raise
            log.warning("cannot list gs://%s on %s (%s); retrying", bucket, endpoint, exc)
        if once:
            return total
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Post finalize CloudEvents for new objects in a bucket.")
    parser.add_argument("--endpoint", default="http://127.0.0.1:4443", help="the GCS emulator")
    parser.add_argument("--bucket", default="eventpulse-raw")
    parser.add_argument("--target", required=True, help="URL of the gcs_finalize function")
    parser.add_argument("--prefix", default="", help="only objects under this prefix")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="the delivered-generations file")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s finalize_shim %(message)s")
    delivered = run(
        args.bucket,
        args.target,
        args.once,
        endpoint=args.endpoint,
        prefix=args.prefix,
        interval_s=args.interval,
        state_path=args.state,
    )
    if args.once:
        print(f"delivered {delivered} event(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
