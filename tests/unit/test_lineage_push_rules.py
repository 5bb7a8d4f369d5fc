"""The pure rules of lineage delivery: back-off, and the settings that configure the push."""

from __future__ import annotations

import pytest

from eventpulse.pipeline.lineage_push import MAX_RETRY_SECONDS, retry_delay_seconds
from eventpulse.settings import Settings, SettingsError


def test_retry_delay_doubles_from_thirty_seconds_up_to_an_hour():
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 4)] == [30.0, 60.0, 120.0, 240.0]
    assert retry_delay_seconds(50) == MAX_RETRY_SECONDS == 3600.0


def test_openlineage_settings_are_read_with_their_defaults():
    settings = Settings.from_mapping(
        {
            "EVENTPULSE_OPENLINEAGE_URL": "http://127.0.0.1:5000",
            "EVENTPULSE_OPENLINEAGE_API_KEY": "s3cret-key",
            "EVENTPULSE_OPENLINEAGE_TIMEOUT_SECONDS": "1.5",
        }
    )
    assert settings.openlineage_url == "http://127.0.0.1:5000"
    assert settings.openlineage_endpoint == "api/v1/lineage"
    assert settings.openlineage_timeout_seconds == 1.5
    assert "s3cret-key" not in repr(settings)
    assert Settings().openlineage_url is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("EVENTPULSE_OPENLINEAGE_URL", "127.0.0.1:5000", "http:// or https://"),
        ("EVENTPULSE_OPENLINEAGE_TIMEOUT_SECONDS", "0", "positive"),
    ],
)
def test_unusable_openlineage_settings_are_refused_naming_the_variable(key, value, message):
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_mapping({key: value})
    assert key in str(caught.value)


def test_the_openlineage_client_is_not_imported_by_the_pipeline_or_the_composition_root():
    import subprocess
    import sys

    code = (
        "import sys, eventpulse.bootstrap, eventpulse.pipeline.processor, eventpulse.pipeline.reclaim\n"
        "from eventpulse.bootstrap import build_lineage_sink\n"
        "from eventpulse.settings import Settings\n"
        "assert build_lineage_sink(Settings()) is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('openlineage')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
