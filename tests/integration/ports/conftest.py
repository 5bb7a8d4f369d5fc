"""The store under test for every metadata-store port suite: one parameter per adapter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eventpulse.ports import MetadataStore


@pytest.fixture(params=["postgres"])
def store(request: pytest.FixtureRequest, services: Any) -> Iterator[MetadataStore]:
    """A new store adapter proves itself by joining these parameters and passing every suite."""
    yield services.store  # the `services` fixture empties every table before each test
