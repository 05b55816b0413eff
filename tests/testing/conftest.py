"""Shared fixtures of the emulator tests."""

from __future__ import annotations

from typing import Any, Iterator, List

import pytest


@pytest.fixture
def clients() -> Iterator[List[Any]]:
    """The plain clients a test opens (anything with ``close()``); all closed after it."""
    made: List[Any] = []
    yield made
    for c in made:
        c.close()
