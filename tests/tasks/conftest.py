"""Fixtures of the task suites."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def marker() -> str:
    """A name no other test (or earlier run) uses, for the keys a test's tasks write."""
    return f"m{uuid.uuid4().hex[:12]}"
