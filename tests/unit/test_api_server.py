from pathlib import Path

from eventpulse.api.server import BODY_LIMIT_MARGIN, waitress_options
from eventpulse.settings import Settings

WAITRESS_DEFAULT_BODY_LIMIT = 1 << 30


def test_waitress_accepts_every_body_up_to_the_documented_upload_limit(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    limit = waitress_options(settings)["max_request_body_size"]
    assert settings.upload_max_bytes == 2 << 30  # the documented default
    assert limit == settings.upload_max_bytes + BODY_LIMIT_MARGIN > WAITRESS_DEFAULT_BODY_LIMIT


def test_waitress_limit_follows_the_setting(tmp_path: Path) -> None:
    small = Settings(data_dir=tmp_path, upload_max_bytes=4096, media_max_bytes=1024)
    assert waitress_options(small)["max_request_body_size"] == 4096 + BODY_LIMIT_MARGIN


def test_waitress_accepts_a_device_media_body_larger_than_the_upload_limit(tmp_path: Path) -> None:
    media = Settings(data_dir=tmp_path, upload_max_bytes=4096, media_max_bytes=8192)
    assert waitress_options(media)["max_request_body_size"] == 8192 + BODY_LIMIT_MARGIN
