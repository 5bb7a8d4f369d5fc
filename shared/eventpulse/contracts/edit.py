"""Edits of a contract's body that a user confirms from the dashboard or the API (pure).

Each returns a new suite dict and never touches the one it was given; the caller stores it as the
contract's next version (``parse_contract`` validates it like any other contract).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def with_rename(suite: Mapping[str, Any], file_name: str, column: str) -> dict[str, Any]:
    """The contract body that reads a file's ``file_name`` column as the known ``column``.

    Confirms a rename candidate (``meta.eventpulse.renames``): replayed and later files load the
    column into ``column``, so it keeps its history. A mapping already there for ``file_name`` is
    replaced; mappings of other names (older spellings of the same column) are kept.
    """
    body = copy.deepcopy(dict(suite))
    meta = body.setdefault("meta", {})
    eventpulse = meta.setdefault("eventpulse", {})
    renames = dict(eventpulse.get("renames") or {})
    renames[file_name] = column
    eventpulse["renames"] = renames
    return body
