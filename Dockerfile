# syntax=docker/dockerfile:1
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements/base.txt /app/requirements/base.txt
RUN pip install --require-hashes -r /app/requirements/base.txt

RUN useradd --create-home --uid 1000 atrium
COPY --chown=atrium:atrium . /app
# /app itself was made by WORKDIR as root: the folders the app writes belong to its user,
# so collectstatic below can write, and a named volume mounted on /app/media (files on
# the filesystem, ATRIUM_STORAGE unset) starts out writable. The compose stack keeps files
# in MinIO instead (ATRIUM_STORAGE=s3).
RUN mkdir -p /app/media /app/staticfiles && chown atrium:atrium /app/media /app/staticfiles
USER atrium
# Static assets (admin, Swagger UI) are collected at build time and served by WhiteNoise.
# The key only satisfies the production settings' check during the build.
RUN DJANGO_SETTINGS_MODULE=config.settings.prod STATIC_ROOT=/app/staticfiles \
    SECRET_KEY=build-time-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    python manage.py collectstatic --noinput
ENV STATIC_ROOT=/app/staticfiles

EXPOSE 8000
# --no-proxy-headers: uvicorn must not rewrite the client address from X-Forwarded-For;
# the app reads that header itself, for ATRIUM_TRUSTED_PROXY_COUNT proxies (default none).
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--no-proxy-headers", "--lifespan", "off", "--ws-max-size", "65536"]
