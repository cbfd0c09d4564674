"""Real time over WebSockets: ASGI tenant + JWT middleware, the events consumer, publishing."""
