"""ASGI entry point: one application for HTTP and WebSocket (served by uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: they load models.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from atrium.platform.observability.sockets import SocketObservability, SocketUser  # noqa: E402
from atrium.platform.realtime.middleware import (  # noqa: E402
    JWTAuthMiddleware,
    OriginMiddleware,
    TenantMiddleware,
)
from atrium.platform.realtime.routing import websocket_urlpatterns  # noqa: E402
from atrium.platform.uploads import BodySizeLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Bodies past ATRIUM_REQUEST_MAX_BYTES: 413 before (or while) they are read.
        "http": BodySizeLimit(django_asgi_app),
        # Outermost first: the socket's log context and metrics, origin (no I/O), tenant
        # from Host (the door, atrium.tenants.asgi, answering refusals with the bearer
        # subprotocol), then the tenant's JWT.
        "websocket": SocketObservability(
            OriginMiddleware(
                TenantMiddleware(JWTAuthMiddleware(SocketUser(URLRouter(websocket_urlpatterns))))
            )
        ),
    }
)
