"""Credentials never reach a log line: the redaction applied to every message and query string."""

from __future__ import annotations

import pytest

from eventpulse.logs.redact import redact, redact_query


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer tok-abc.123", "tok-abc.123"),
        ("header was bearer abcdef", "abcdef"),
        ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("cannot connect to postgresql+pg8000://app:hunter2@db:5432/x", "hunter2"),
        ("redis://:s3cret@127.0.0.1:6379/0 refused", "s3cret"),
        ("password=hunter2 host=db", "hunter2"),
        ("X-Task-Token: task-tok-1", "task-tok-1"),
        ("{'api_key': 'k-123', 'dataset': 'parcels'}", "k-123"),
        ('{"client_secret": "cs-9"}', "cs-9"),
    ],
)
def test_credentials_are_replaced(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_the_scheme_of_an_authorization_value_stays_readable() -> None:
    assert redact("Authorization: Bearer tok-abc") == "Authorization: Bearer [REDACTED]"


@pytest.mark.parametrize(
    "text",
    [
        "ingestion 0b7c loaded 5 rows into curated_parcels",
        "send the task token configured by EVENTPULSE_TASK_TOKEN_SHA256",
        "GET /api/ingestions?dataset=parcels 200",
    ],
)
def test_ordinary_lines_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_secret_named_query_parameters_lose_their_values() -> None:
    query = "dataset=parcels&token=abc&X-Goog-Signature=f00d&access_token=xyz&limit=5"
    cleaned = redact_query(query)
    assert cleaned == (
        "dataset=parcels&token=[REDACTED]&X-Goog-Signature=[REDACTED]&access_token=[REDACTED]&limit=5"
    )
