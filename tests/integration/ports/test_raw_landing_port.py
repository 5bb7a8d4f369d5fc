"""The RawLanding port's behaviour, one suite for every adapter: filesystem and GCS (real emulator).

A new landing adapter proves itself by joining the ``landing`` fixture's parameters and passing.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest

from eventpulse.bootstrap import build_landing
from eventpulse.errors import PayloadTooLarge
from eventpulse.ports import RawLanding
from tests.gcs_emulator import gcs_settings

DATA = b"event_id,device_id\n1,a\n2,b\n"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(params=["filesystem", "gcs"])
def landing(request: pytest.FixtureRequest, settings: Any, signer_file: Any) -> Iterator[RawLanding]:
    if request.param == "gcs":
        settings = gcs_settings(settings, request.getfixturevalue("gcs_emulator"), signer_file)
    yield build_landing(settings)


def test_put_stores_the_exact_bytes_under_a_content_key(landing: RawLanding) -> None:
    raw = landing.put_stream("edge_telemetry", "readings.csv", io.BytesIO(DATA), max_bytes=None)
    assert raw.created and raw.sha256 == SHA and raw.size_bytes == len(DATA)
    assert raw.key.endswith(f"edge_telemetry/{SHA}.csv")
    with landing.open(raw.key) as stream:
        assert stream.read() == DATA
    with landing.local_path(raw.key) as path:
        assert path.read_bytes() == DATA
    assert landing.exists(raw.key)
    assert landing.uri(raw.key).startswith(("file://", "gs://"))


def test_the_same_bytes_twice_are_one_object_never_rewritten(landing: RawLanding) -> None:
    first = landing.put_stream("edge_telemetry", "a.csv", io.BytesIO(DATA), max_bytes=None)
    second = landing.put_stream("edge_telemetry", "b.csv", io.BytesIO(DATA), max_bytes=None)
    assert first.created and not second.created
    assert second.key == first.key and second.sha256 == first.sha256


def test_different_datasets_or_bytes_get_different_keys(landing: RawLanding) -> None:
    a = landing.put_stream("edge_telemetry", "a.csv", io.BytesIO(DATA), max_bytes=None)
    b = landing.put_stream("parcels", "a.csv", io.BytesIO(DATA), max_bytes=None)
    c = landing.put_stream("edge_telemetry", "a.csv", io.BytesIO(DATA + b"3,c\n"), max_bytes=None)
    assert len({a.key, b.key, c.key}) == 3


def test_put_over_the_limit_is_refused_and_stores_nothing(landing: RawLanding) -> None:
    with pytest.raises(PayloadTooLarge):
        landing.put_stream("edge_telemetry", "big.csv", io.BytesIO(DATA), max_bytes=5)
    # Had the refused bytes been stored, this put would find them and create nothing.
    assert landing.put_stream("edge_telemetry", "big.csv", io.BytesIO(DATA), max_bytes=None).created


def test_put_file_equals_put_stream(landing: RawLanding, tmp_path: Any) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(DATA)
    assert landing.put_file("edge_telemetry", "file.csv", path).sha256 == SHA


def test_delete_removes_an_object_once(landing: RawLanding) -> None:
    raw = landing.put_stream("edge_telemetry", "gone.csv", io.BytesIO(DATA), max_bytes=None)
    assert landing.delete(raw.key) is True
    assert not landing.exists(raw.key)
    assert landing.delete(raw.key) is False
