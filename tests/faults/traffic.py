"""Requests sent from a background thread during a fault, every answer recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Answer:
    """One request's outcome; ``status`` is None when no HTTP answer came at all."""

    label: str
    at: float  # time.monotonic() when the answer came
    status: int | None
    content_type: str = ""
    body: Any = None
    error: str = ""

    @property
    def is_json(self) -> bool:
        return self.content_type.startswith("application/json")

    def error_code(self) -> str | None:
        """The code of the one error shape, if this answer is an error in that shape."""
        body = self.body if isinstance(self.body, dict) else {}
        errors = body.get("errors")
        if body.get("type") in {"client_error", "server_error", "validation_error"} and errors:
            return errors[0].get("code")
        return None

    def __str__(self) -> str:
        shown = self.error or str(self.body)[:300]
        return f"{self.label} -> {self.status} {self.content_type} {shown}"


def answer_of(label: str, send: Callable[[], requests.Response]) -> Answer:
    try:
        response = send()
    except requests.RequestException as exc:
        return Answer(label, time.monotonic(), None, error=f"{type(exc).__name__}: {exc}")
    content_type = response.headers.get("Content-Type", "")
    try:
        body = response.json() if content_type.startswith("application/json") else response.text
    except ValueError:
        body = response.text
    return Answer(label, time.monotonic(), response.status_code, content_type, body)


class Traffic:
    """Sends ``requests`` (label -> callable) round-robin from one thread, ``interval``
    seconds apart, until stopped; ``answers`` keeps every outcome in order."""

    def __init__(self, requests: dict[str, Callable[[], requests.Response]], interval: float):
        self.requests = requests
        self.interval = interval
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for label, send in self.requests.items():
                self.answers.append(answer_of(label, send))
                if self._stop.wait(self.interval):
                    return

    def since(self, moment: float) -> list[Answer]:
        return [answer for answer in list(self.answers) if answer.at >= moment]

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
