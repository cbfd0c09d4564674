"""WebSockets: the channel layer and the browser origins allowed to open a socket."""

from atrium.conf import env, env_int

from .redis_celery import REDIS_URL, redis_db_url

# The channel layer has a Redis database of its own (index 2 of REDIS_URL's server), so
# its traffic never mixes with cache keys or the Celery broker.
CHANNEL_REDIS_URL = env("CHANNEL_REDIS_URL", redis_db_url(REDIS_URL, 2))
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "atrium.platform.realtime.layers.FanoutRedisChannelLayer",
        "CONFIG": {
            # A dead Redis fails a publish in seconds instead of hanging the request.
            # The read timeout must exceed channels-redis' 5 s blocking receive, or an idle
            # process drops its sockets; the pool must hold a reconnect storm.
            "hosts": [
                {
                    "address": CHANNEL_REDIS_URL,
                    "socket_connect_timeout": 2,
                    "socket_timeout": 10,
                    "max_connections": 1000,
                }
            ],
            # Channel-layer keys are shared infrastructure: one queue per process carries
            # the messages of every tenant, so they cannot start with a tenant. They are
            # platform keys (p:); the tenant is in every group name (t.<schema>.…).
            "prefix": "p:asgi",
            # Messages queued for one server process before new ones are dropped. Every
            # socket of a process shares that process's one queue (channels-redis keys
            # process-local channels by process), so this is not per socket: at 100, a
            # busy server dropped a quarter of its sockets' events under the load of
            # benchmarks/load.py (50 clients, ~30 writes/s). Expiry bounds what waits.
            "capacity": 5000,
            # Seconds an undelivered message is kept.
            "expiry": 60,
            # Seconds a socket stays in a group. A socket is closed when its access token
            # expires (JWT_ACCESS_MINUTES), before this; a membership whose leave failed
            # (Redis away at disconnect) stops costing every group send after an hour.
            "group_expiry": env_int("CHANNEL_GROUP_EXPIRY", 3600),
        },
    }
}
# Browser origins allowed to open a WebSocket, comma-separated, as Channels'
# OriginValidator reads them ("https://app.example.com", "https://.example.com" for every
# subdomain). Empty: no check (tokens, not cookies, authenticate a socket).
ALLOWED_ORIGINS = [
    origin.strip() for origin in env("ALLOWED_ORIGINS", "").split(",") if origin.strip()
]
