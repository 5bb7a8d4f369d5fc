"""Scrub credentials out of log text (pure): a last line of defence, not a licence to log secrets.

EventPulse never logs tokens on purpose; these patterns catch the accidents (an exception message
holding a database URL, a library echoing an ``Authorization`` header, a token in a query string).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

REDACTED = "[REDACTED]"

SECRET_NAME = re.compile(
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|signature|credential|authorization|cookie)",
    re.IGNORECASE,
)
"""A name (header, query parameter, setting) whose value is treated as a secret."""

_PATTERNS = (
    # Authorization header values: "Bearer abc", "Basic dXNlcjpwYXNz"
    (
        re.compile(r"bearer|basic", re.IGNORECASE),
        re.compile(r"\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
        r"\1\2" + REDACTED,
    ),
    # credentials inside a URL: scheme://user:password@host
    (
        re.compile("://"),
        re.compile(r"([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE),
        r"\1" + REDACTED + "@",
    ),
    # name=value or "name": "value" where the name looks secret (password=..., X-Task-Token: ...)
    (
        SECRET_NAME,
        re.compile(
            r"(\b[\w.-]*" + SECRET_NAME.pattern + r"[\w.-]*['\"]?\s*[=:]\s*['\"]?)"
            r"(?!\[REDACTED\]|bearer\s|basic\s)[^\s&,;'\"]+",
            re.IGNORECASE,
        ),
        r"\1" + REDACTED,
    ),
)
"""(cheap trigger, pattern, replacement): the full pattern runs only where its trigger appears."""


def redact(text: str) -> str:
    """``text`` with bearer tokens, URL passwords and secret-named values replaced by ``[REDACTED]``."""
    for trigger, pattern, replacement in _PATTERNS:
        if trigger.search(text):
            text = pattern.sub(replacement, text)
    return text


def redact_query(query: str) -> str:
    """A URL query string with the values of secret-named parameters replaced by ``[REDACTED]``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [(key, REDACTED if SECRET_NAME.search(key) else redact(value)) for key, value in pairs], safe="[]"
    )
