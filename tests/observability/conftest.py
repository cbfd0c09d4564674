"""Fixtures of the observability tests: what the configured log handler writes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from atrium.platform.observability.logs import ContextFilter, JsonFormatter


class JsonLines:
    """The lines a handler configured as production's (context filter, JSON) wrote."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def records(self, logger: str | None = None) -> list[dict]:
        lines = [json.loads(line) for line in self.stream.getvalue().splitlines() if line]
        return [line for line in lines if logger is None or line["logger"] == logger]


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield JsonLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
