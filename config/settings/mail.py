"""E-mail: Django's ``MAILERS`` from one URL (``EMAIL_URL``) or the ``EMAIL_*`` variables;
the development default is the local SMTP sink that ``make run`` starts
(``scripts/mail_sink.py``, port 1025)."""

import dj_email_url

from atrium.conf import env, env_bool, env_int


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
    backend = parsed.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    if not backend.endswith("smtp.EmailBackend"):
        options = {}
    return {"BACKEND": backend, "OPTIONS": options}


_EMAIL_URL = env("EMAIL_URL", "") or (
    "smtp://{user}{host}:{port}/?timeout={timeout}&tls={tls}&ssl={ssl}".format(
        user=(
            f"{env('EMAIL_HOST_USER', '')}:{env('EMAIL_HOST_PASSWORD', '')}@"
            if env("EMAIL_HOST_USER", "")
            else ""
        ),
        host=env("EMAIL_HOST", "127.0.0.1"),
        port=env_int("EMAIL_PORT", 1025),
        timeout=env_int("EMAIL_TIMEOUT", 10),
        tls=int(env_bool("EMAIL_USE_TLS", False)),
        ssl=int(env_bool("EMAIL_USE_SSL", False)),
    )
)
MAILERS = {"default": mailer_from_url(_EMAIL_URL)}
# The address every mail is sent from; the sender's display name is the tenant's name.
DEFAULT_FROM_EMAIL = env(
    "DEFAULT_FROM_EMAIL",
    dj_email_url.parse(_EMAIL_URL).get("DEFAULT_FROM_EMAIL")
    or f"no-reply@{env('ATRIUM_BASE_DOMAIN', 'localhost')}",
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
