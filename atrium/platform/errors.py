"""Errors of the platform's own services, on the one error root (``atrium/errors.py``)."""

from atrium.errors import ServiceUnavailable


class QueueUnavailable(ServiceUnavailable):
    """The task broker cannot take a message: the background work was not started."""

    code = "queue_unavailable"
