"""E-mail: Django's ``MAILERS`` from one URL (``EMAIL_URL``) or the ``EMAIL_*`` variables;
the development default is the local SMTP sink that ``make run`` starts
(``scripts/mail_sink.py``, port 1025)."""

import dj_email_url
from django.core.exceptions import ImproperlyConfigured

from atrium.conf import env, env_bool, env_int

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def mailer_from_url(url: str) -> dict:
    """A ``MAILERS`` entry from smtp://user:password@host:587/?tls=1&timeout=10 (or
    submission://…, console://…: dj-email-url's schemes)."""
    parsed = dj_email_url.parse(url)
    options = {
        "host": parsed["EMAIL_HOST"],
        "port": parsed["EMAIL_PORT"],
        "username": parsed["EMAIL_HOST_USER"] or "",
        "password": parsed["EMAIL_HOST_PASSWORD"] or "",
        "use_tls": parsed["EMAIL_USE_TLS"],
        "use_ssl": parsed["EMAIL_USE_SSL"],
        # A dead SMTP server must not hold a worker for minutes: the send task retries.
        "timeout": parsed["EMAIL_TIMEOUT"] or 10,
    }
    backend = parsed.get("EMAIL_BACKEND", SMTP_BACKEND)
    if backend != SMTP_BACKEND:
        options = {}
    return {"BACKEND": backend, "OPTIONS": options}


def mailer_from_variables() -> dict:
    """A ``MAILERS`` entry from ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``,
    ``EMAIL_HOST_PASSWORD``, ``EMAIL_USE_TLS``, ``EMAIL_USE_SSL`` and ``EMAIL_TIMEOUT``,
    taken as they are (a password needs no URL quoting here); the default is the local sink."""
    use_tls, use_ssl = env_bool("EMAIL_USE_TLS", False), env_bool("EMAIL_USE_SSL", False)
    if use_tls and use_ssl:
        # Django's SMTP backend refuses both at the first send, in a worker; say it now.
        raise ImproperlyConfigured(
            "EMAIL_USE_TLS and EMAIL_USE_SSL are both on: set one (TLS for STARTTLS, usually "
            "port 587; SSL for implicit TLS, usually port 465)."
        )
    return {
        "BACKEND": SMTP_BACKEND,
        "OPTIONS": {
            "host": env("EMAIL_HOST", "127.0.0.1"),
            "port": env_int("EMAIL_PORT", 1025),
            "username": env("EMAIL_HOST_USER", ""),
            "password": env("EMAIL_HOST_PASSWORD", ""),
            "use_tls": use_tls,
            "use_ssl": use_ssl,
            "timeout": env_int("EMAIL_TIMEOUT", 10),
        },
    }


_EMAIL_URL = env("EMAIL_URL", "")
MAILERS = {"default": mailer_from_url(_EMAIL_URL) if _EMAIL_URL else mailer_from_variables()}
# The address every mail is sent from; the sender's display name is the tenant's name.
DEFAULT_FROM_EMAIL = env(
    "DEFAULT_FROM_EMAIL",
    (dj_email_url.parse(_EMAIL_URL).get("DEFAULT_FROM_EMAIL") if _EMAIL_URL else None)
    or f"no-reply@{env('ATRIUM_BASE_DOMAIN', 'localhost')}",
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
