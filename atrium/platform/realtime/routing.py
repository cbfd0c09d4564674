"""WebSocket routes, served on every tenant host behind the middleware of ``middleware.py``."""

from django.urls import path, re_path

from .consumers import EventsConsumer
from .middleware import not_found

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
    # Channels' URLRouter raises on an unknown path; refuse it like any other socket.
    re_path(r"", not_found),
]
