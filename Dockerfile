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

# HTTP: gunicorn (config/gunicorn.conf.py: WEB_CONCURRENCY workers, default one per core,
# recycling, graceful shutdown, no proxy headers trusted) on ATRIUM_HTTP_BIND (0.0.0.0:8000).
# WebSockets: the same image with the uvicorn command of docker-compose.yml's `ws` service;
# HAProxy (deploy/haproxy.cfg) puts both on one origin.
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py"]
