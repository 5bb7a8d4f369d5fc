"""Named API tokens in settings: the environment format, its errors, and the older digest-only form."""

from __future__ import annotations

import hashlib

import pytest

from eventpulse.settings import ApiToken, Settings, SettingsError

A = hashlib.sha256(b"alice-secret").hexdigest()
C = hashlib.sha256(b"ci-secret").hexdigest()


def tokens_from(raw: str, **extra: str) -> tuple[ApiToken, ...]:
    return Settings.from_mapping({"EVENTPULSE_API_TOKENS": raw, **extra}).accepted_api_tokens


def test_named_tokens_are_parsed_with_their_roles() -> None:
    tokens = tokens_from(f" alice:admin:{A} , ci:Operator:{C.upper()},")
    assert [(t.name, t.role) for t in tokens] == [("alice", "admin"), ("ci", "operator")]
    assert tokens[1].sha256 == C
    assert A not in repr(tokens[0]), "a digest is not printed with the settings"


def test_the_older_digest_setting_still_works_as_named_operator_tokens() -> None:
    tokens = tokens_from(f"alice:admin:{A}", EVENTPULSE_API_TOKEN_SHA256=C)
    assert [(t.name, t.role) for t in tokens] == [("alice", "admin"), (f"legacy-{C[:8]}", "operator")]


@pytest.mark.parametrize(
    "raw, words",
    [
        (f"alice:{A}", ["entry 1", "name:role:sha256"]),
        (f"alice:root:{A}", ["alice", "unknown role 'root'", "viewer, operator, admin"]),
        ("alice:admin:not-a-digest", ["alice", "64 hex digits"]),
        (f"ok:viewer:{C},bad name:admin:{A}", ["entry 2", "'bad name'"]),
        (f"alice:admin:{A},alice:viewer:{C}", ["'alice' twice"]),
        (f"alice:admin:{A},bob:viewer:{A}", ["'alice' and 'bob'", "same sha256"]),
    ],
)
def test_a_bad_token_entry_is_a_settings_error_that_says_what_is_wrong(raw: str, words: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        tokens_from(raw)
    for word in words:
        assert word in str(caught.value)
    assert "alice-secret" not in str(caught.value)
