"""WSGI entry point: the whole HTTP app (gunicorn, ``config/gunicorn.conf.py``), with the
same tenant routing and middleware as ``config.asgi`` (Django's MIDDLEWARE) and the same
body limit in front of it. WebSockets are served by ``config.asgi`` behind the same origin."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_wsgi_app = get_wsgi_application()

from atrium.platform.uploads import WSGIBodySizeLimit  # noqa: E402

application = WSGIBodySizeLimit(django_wsgi_app)
