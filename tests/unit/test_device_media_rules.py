"""The pure media rules: keys under the device's own prefix, media types, and the local URL tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventpulse.devices.media import (
    MediaGrant,
    build_media_key,
    is_device_media_key,
    is_media_type,
    safe_media_name,
    sign_grant,
    verify_grant,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_a_key_lies_under_its_device_and_date_and_only_that_device_owns_it() -> None:
    key = build_media_key("cam-1", "../../etc/Pass Wd.jpg", now=NOW, nonce="a" * 32)
    assert key == f"media/cam-1/2026-05-01/{'a' * 32}-Pass_Wd.jpg"
    assert is_device_media_key(key, "cam-1")
    assert not is_device_media_key(key, "cam-2")
    assert not is_device_media_key(key.replace("cam-1", "cam-1/../cam-2"), "cam-1")
    assert not is_device_media_key(f"media/cam-1/2026-05-01/{'a' * 32}-x/../../y.jpg", "cam-1")


@pytest.mark.parametrize(("name", "safe"), [("..jpg", "jpg"), ("", "media"), ("a b\x00.png", "a_b_.png")])
def test_names_are_reduced_to_safe_characters(name: str, safe: str) -> None:
    assert safe_media_name(name) == safe


def test_only_photos_and_videos_are_media() -> None:
    assert is_media_type("image/jpeg") and is_media_type("video/mp4")
    assert not any(map(is_media_type, ["text/csv", "image/", "image/jpeg; q=1", "application/pdf"]))


def test_a_token_verifies_for_its_operation_until_it_expires() -> None:
    grant = MediaGrant(
        "put", "media/cam-1/k", int((NOW + timedelta(seconds=60)).timestamp()), "image/png", 10
    )
    token = sign_grant("pepper", grant)
    assert verify_grant("pepper", token, op="put", now=NOW) == grant
    assert verify_grant("pepper", token, op="get", now=NOW) is None
    assert verify_grant("pepper", token, op="put", now=NOW + timedelta(seconds=60)) is None
    assert verify_grant("other", token, op="put", now=NOW) is None
    assert verify_grant("pepper", "garbage", op="put", now=NOW) is None
    assert verify_grant("pepper", token + "x", op="put", now=NOW) is None
