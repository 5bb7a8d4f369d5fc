"""Device media on the filesystem landing (the embedded defaults): sign, PUT, finalize, list, read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from eventpulse.devices.media import MediaGrant, sign_grant
from tests.integration.edge_media_support import ADMIN, PEPPER, build_client, enrolled

JPEG = b"\xff\xd8\xff\xe0" + b"photo-bytes" * 100


@pytest.fixture
def client(services):  # type: ignore[no-untyped-def]
    return build_client(services, media_max_bytes=4096)


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def sign(client, device, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/edge/media/signed_url", json=body, headers=device)


def test_media_go_from_signed_url_to_a_readable_listing(client, services) -> None:
    cam = enrolled(client, "cam-1")
    minted = sign(client, cam, filename="../Front Door.JPG", content_type="image/jpeg", size=len(JPEG))
    assert minted.status_code == 201, minted.get_json()
    signed = minted.get_json()
    key = signed["object_name"]
    assert key.startswith("media/cam-1/") and key.endswith("-Front_Door.JPG") and ".." not in key
    assert signed["method"] == "PUT" and signed["headers"] == {"content-type": "image/jpeg"}
    put = client.put(local_path(signed["url"]), data=JPEG, headers=signed["headers"])
    assert put.status_code == 200, put.get_json()
    assert (services.settings.data_dir / "media" / key).read_bytes() == JPEG
    again = client.put(local_path(signed["url"]), data=b"other", headers=signed["headers"])
    assert again.status_code == 409  # create-only, like GCS's 412

    done = client.post("/api/edge/media/finalize", json={"object_name": key}, headers=cam)
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["media"]["size_bytes"] == len(JPEG) and done.get_json()["created"] is True
    twice = client.post("/api/edge/media/finalize", json={"object_name": key}, headers=cam)
    assert twice.status_code == 200 and twice.get_json()["created"] is False
    with services.store.engine.connect() as conn:
        audited = conn.execute(
            text("SELECT actor, entity_id FROM audit_events WHERE action = 'device.media_added'")
        ).all()
    assert [tuple(a) for a in audited] == [("device:cam-1", "cam-1")]

    listing = client.get("/api/devices/cam-1/media", headers=ADMIN)
    assert listing.status_code == 200, listing.get_json()
    (item,) = listing.get_json()["items"]
    assert item["object_name"] == key and item["content_type"] == "image/jpeg"
    read = client.get(local_path(item["read_url"]))
    assert read.status_code == 200 and read.data == JPEG and read.mimetype == "image/jpeg"
    # a read URL is not a write URL, and the other way round
    assert client.put(local_path(item["read_url"]), data=JPEG, headers=signed["headers"]).status_code == 401
    assert client.get(local_path(signed["url"])).status_code == 401


def test_listing_pages_by_cursor_and_refuses_a_bad_one(client) -> None:
    cam = enrolled(client, "cam-2")
    for n in range(3):
        signed = sign(client, cam, filename=f"p{n}.png", content_type="image/png").get_json()
        client.put(local_path(signed["url"]), data=b"png", headers=signed["headers"])
        client.post("/api/edge/media/finalize", json={"object_name": signed["object_name"]}, headers=cam)
    first = client.get("/api/devices/cam-2/media?limit=2", headers=ADMIN).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = client.get(f"/api/devices/cam-2/media?limit=2&cursor={first['next_cursor']}", headers=ADMIN)
    assert len(second.get_json()["items"]) == 1 and second.get_json()["next_cursor"] is None
    assert client.get("/api/devices/cam-2/media?cursor=garbage", headers=ADMIN).status_code == 400
    assert client.get("/api/devices/nobody/media", headers=ADMIN).status_code == 404


def test_finalize_refuses_another_devices_object_and_any_name_outside_the_callers_prefix(client) -> None:
    owner, thief = enrolled(client, "cam-3"), enrolled(client, "cam-4")
    signed = sign(client, owner, filename="a.jpg", content_type="image/jpeg").get_json()
    client.put(local_path(signed["url"]), data=JPEG, headers=signed["headers"])
    key = signed["object_name"]
    stolen = client.post("/api/edge/media/finalize", json={"object_name": key}, headers=thief)
    assert stolen.status_code == 403 and stolen.get_json()["error"]["code"] == "forbidden"
    nonexistent = key.replace("cam-3", "cam-9")
    assert (
        client.post("/api/edge/media/finalize", json={"object_name": nonexistent}, headers=thief).status_code
        == 403
    )
    date = key.split("/")[2]
    for name in (
        f"media/cam-4/{date}/../../cam-3/{date}/{key.rsplit('/', 1)[-1]}",
        f"media/cam-4/../cam-3/{date}/{key.rsplit('/', 1)[-1]}",
        "raw/edge_telemetry/x.csv",
        f"media/cam-4/{date}/{'0' * 32}-/etc/passwd",
    ):
        refused = client.post("/api/edge/media/finalize", json={"object_name": name}, headers=thief)
        assert refused.status_code == 403, (name, refused.get_json())
    missing = f"media/cam-4/{date}/{'a' * 32}-none.jpg"
    assert (
        client.post("/api/edge/media/finalize", json={"object_name": missing}, headers=thief).status_code
        == 404
    )


@pytest.mark.parametrize(
    "content_type", ["text/csv", "application/octet-stream", "image/jpeg; x=1", "image/"]
)
def test_a_non_media_content_type_is_refused(client, content_type) -> None:
    cam = enrolled(client, "cam-5")
    refused = sign(client, cam, filename="a.jpg", content_type=content_type)
    assert (
        refused.status_code == 400 and refused.get_json()["error"]["details"]["parameter"] == "content_type"
    )


def test_oversize_is_refused_when_declared_and_when_sent(client, services) -> None:
    cam = enrolled(client, "cam-6")
    assert sign(client, cam, filename="v.mp4", content_type="video/mp4", size=4097).status_code == 413
    signed = sign(client, cam, filename="v.mp4", content_type="video/mp4").get_json()
    put = client.put(local_path(signed["url"]), data=b"x" * 4097, headers=signed["headers"])
    assert put.status_code == 413
    assert not (services.settings.data_dir / "media" / signed["object_name"]).exists()


def test_a_wrong_content_type_an_expired_or_forged_token_is_refused(client, services) -> None:
    cam = enrolled(client, "cam-7")
    signed = sign(client, cam, filename="a.jpg", content_type="image/jpeg").get_json()
    url = local_path(signed["url"])
    assert client.put(url, data=JPEG, headers={"content-type": "image/png"}).status_code == 400
    past = datetime.now(UTC) - timedelta(seconds=1)
    expired = sign_grant(
        PEPPER, MediaGrant("put", signed["object_name"], int(past.timestamp()), "image/jpeg", 4096)
    )
    answer = client.put(f"/api/edge/media/local?token={expired}", data=JPEG, headers=signed["headers"])
    assert answer.status_code == 401 and answer.get_json()["error"]["hint"]
    forged = sign_grant("not-the-pepper", MediaGrant("put", signed["object_name"], 2**40, "image/jpeg", 4096))
    assert (
        client.put(f"/api/edge/media/local?token={forged}", data=JPEG, headers=signed["headers"]).status_code
        == 401
    )
    token = url.split("token=", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (
        client.put(
            f"/api/edge/media/local?token={tampered}", data=JPEG, headers=signed["headers"]
        ).status_code
        == 401
    )
    assert not (services.settings.data_dir / "media" / signed["object_name"]).exists()


def test_signed_data_upload_on_the_filesystem_landing_says_to_upload_directly(client) -> None:
    pi = enrolled(client, "pi-1")
    answer = client.post(
        "/api/edge/uploads/gcs_signed_url",
        json={"dataset": "edge_telemetry", "filename": "a.csv"},
        headers=pi,
    )
    assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "bucket_landing_required"
    assert "/api/edge/ingest/upload" in answer.get_json()["error"]["hint"]


def test_the_fleet_listing_shows_every_devices_media_newest_first_and_filters_by_device(client) -> None:
    for device_id in ("cam-3", "cam-4"):
        cam = enrolled(client, device_id)
        signed = sign(client, cam, filename=f"{device_id}.png", content_type="image/png").get_json()
        client.put(local_path(signed["url"]), data=b"png", headers=signed["headers"])
        client.post("/api/edge/media/finalize", json={"object_name": signed["object_name"]}, headers=cam)
    every = client.get("/api/media", headers=ADMIN)
    assert every.status_code == 200, every.get_json()
    assert [i["device_id"] for i in every.get_json()["items"]] == ["cam-4", "cam-3"]
    assert all(client.get(local_path(i["read_url"])).data == b"png" for i in every.get_json()["items"])
    first = client.get("/api/media?limit=1", headers=ADMIN).get_json()
    rest = client.get(f"/api/media?limit=1&cursor={first['next_cursor']}", headers=ADMIN).get_json()
    assert [i["device_id"] for i in first["items"] + rest["items"]] == ["cam-4", "cam-3"]
    one = client.get("/api/media?device_id=cam-3", headers=ADMIN).get_json()
    assert [i["device_id"] for i in one["items"]] == ["cam-3"]
    blank = client.get("/api/media?device_id=", headers=ADMIN).get_json()["items"]
    assert [i["media_id"] for i in blank] == [i["media_id"] for i in every.get_json()["items"]]
    bad = client.get("/api/media?device_id=../x", headers=ADMIN)
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["parameter"] == "device_id"
    assert client.get("/api/media").status_code == 401
