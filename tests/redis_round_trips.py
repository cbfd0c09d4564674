"""Counts the round trips this process makes to Redis, with the commands of each.

A round trip is one write of commands to a connection (a command, or a pipeline's batch)
before its replies are read: every redis-py connection sends through
``send_packed_command``, so that is where they are counted, and the RESP bytes sent are
parsed back into commands. ``with RedisRoundTrips() as trips: ...``, then
``trips.commands`` is ``[["MGET"], ["EVALSHA"], ["INCR", "EXPIRE", ...], ...]`` (names)
and ``trips.sent`` the same with each command's arguments.
"""

from __future__ import annotations

from unittest import mock

from redis.connection import AbstractConnection


def sent_commands(packed: bytes | list) -> list[list[str]]:
    """The commands in RESP bytes (arrays of bulk strings), in order, each as its name
    (upper case) and arguments."""
    data = packed if isinstance(packed, bytes) else b"".join(bytes(part) for part in packed)
    commands, position = [], 0
    while position < len(data):
        end = data.index(b"\r\n", position)
        assert data[position : position + 1] == b"*", data[position : position + 20]
        count, position = int(data[position + 1 : end]), end + 2
        command = []
        for _ in range(count):
            end = data.index(b"\r\n", position)
            length = int(data[position + 1 : end])
            command.append(data[end + 2 : end + 2 + length].decode(errors="replace"))
            position = end + 2 + length + 2
        commands.append([command[0].upper(), *command[1:]])
    return commands


class RedisRoundTrips:
    def __init__(self) -> None:
        self.sent: list[list[list[str]]] = []
        self._patch = None

    @property
    def commands(self) -> list[list[str]]:
        return [[command[0] for command in trip] for trip in self.sent]

    def __enter__(self) -> RedisRoundTrips:
        original = AbstractConnection.send_packed_command
        trips = self

        def send_packed_command(connection, command, check_health=True):
            trips.sent.append(sent_commands(command))
            return original(connection, command, check_health)

        self._patch = mock.patch.object(
            AbstractConnection, "send_packed_command", send_packed_command
        )
        self._patch.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._patch.stop()
