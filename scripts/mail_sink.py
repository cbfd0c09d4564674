"""A local SMTP sink for development: every mail sent to it is kept, none is delivered.

    python scripts/mail_sink.py [--port 1025] [--dir var/mail]

Each message is written to ``<dir>/<n>-<recipient>.eml`` and announced on one line
(recipient, subject, file). ``make run`` starts it and says where the mail goes; read a
token with e.g. ``grep -h 'token=' var/mail/*.eml``. The tests run the same ``MailSink``
in-process (``smtp_sink`` in tests/fixtures.py).
"""

from __future__ import annotations

import argparse
import itertools
import re
import signal
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives (in memory, and on disk when
    given a directory)."""

    def __init__(self, port: int = 0, directory: Path | None = None, echo: bool = False):
        self.messages: list[EmailMessage] = []
        self.directory = directory
        self.echo = echo
        self._counter = itertools.count(1)
        self._arrived = threading.Condition()
        self._controller = Controller(self, hostname="127.0.0.1", port=port or _free_port())

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> MailSink:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()

    def wait_for(self, *, to: str, timeout: float = 5.0, count: int = 1) -> EmailMessage:
        """The ``count``-th message received for ``to`` (waiting up to ``timeout`` s)."""

        def found() -> list[EmailMessage]:
            return [m for m in self.messages if to.lower() in m.get("To", "").lower()]

        with self._arrived:
            if not self._arrived.wait_for(lambda: len(found()) >= count, timeout):
                raise TimeoutError(
                    f"no mail #{count} for {to} within {timeout} s; got "
                    f"{[(m['To'], m['Subject']) for m in self.messages]}"
                )
            return found()[count - 1]

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._arrived:
            self.messages.append(message)
            number = next(self._counter)
            self._arrived.notify_all()
        if self.directory is not None:
            recipient = re.sub(r"[^A-Za-z0-9@._-]", "_", ",".join(envelope.rcpt_tos))[:80]
            path = self.directory / f"{number:04d}-{recipient}.eml"
            path.write_bytes(envelope.original_content)
            if self.echo:
                print(f"mail: to {recipient}: {message['Subject']} -> {path}", flush=True)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    sink = MailSink(port=args.port, directory=args.dir, echo=True).start()
    print(f"mail: SMTP sink on 127.0.0.1:{sink.port}, messages in {args.dir}/", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sink.stop()


if __name__ == "__main__":
    main()
