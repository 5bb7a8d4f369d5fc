"""A full disk under the landing zone (a 2 MiB tmpfs this test mounts): the upload is refused with
507 and the error envelope, nothing half-written stays behind, and the server keeps serving."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventpulse.api.app import create_app
from eventpulse.bootstrap import build_services
from tests.conftest import reset_database
from tests.integration.api_support import AUTH, edge_csv

DISK_BYTES = 2 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(
            "this test mounts a 2 MiB tmpfs to fill a disk and needs root (or CAP_SYS_ADMIN): "
            f"run the tests as root, as .ci/run does ({done.stderr.strip()})"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def full_services(settings, small_disk: Path):  # type: ignore[no-untyped-def]
    svc = build_services(settings.with_overrides(data_dir=small_disk))
    reset_database(svc.store.engine)
    yield svc
    svc.close()


def files_under(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, fs in os.walk(root) for f in fs]


def test_an_upload_larger_than_the_free_space_is_507_and_leaves_nothing_behind(
    full_services, small_disk: Path, tmp_path: Path
) -> None:
    client = create_app(full_services).test_client()
    before = set(files_under(small_disk))
    body = b"x" * (3 << 20)
    response = client.post(
        "/api/ingest/upload?dataset=edge_telemetry&filename=big.csv",
        data=body,
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 507, (response.status_code, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_storage"
    assert "space" in error["message"] and error["hint"]
    assert str(small_disk) not in response.get_data(as_text=True)  # no server path
    assert set(files_under(small_disk)) == before  # no partial temp or raw file
    # The server keeps serving: a small upload lands and is processed.
    small = edge_csv(tmp_path, seed=5).read_bytes()
    ok = client.post(
        "/api/ingest/upload?dataset=edge_telemetry&filename=small.csv",
        data=small,
        headers={**AUTH, "Content-Type": "application/octet-stream"},
    )
    assert ok.status_code in (200, 201, 202), ok.get_json()
    assert client.get("/readyz").status_code == 200
