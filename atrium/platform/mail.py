"""E-mail of the tenant in scope (or of the platform): rendered from templates and sent by
a Celery task after the write commits, with retries.

    mail_send_on_commit(to=user.email, template="accounts/password_reset",
                        context={"link": tenant_link("reset-password", token), "token": token})

A template ``<name>`` is three files found by Django's template loaders:
``mail/<name>.subject.txt``, ``mail/<name>.txt`` (the text body) and ``mail/<name>.html``
(the HTML body). Every context also has ``tenant_name`` and ``tenant_url``: the tenant's
name and primary URL, or on the platform host the platform's (``ATRIUM_PLATFORM_NAME``,
the base domain). The sender's display name and the subject both carry that name, so a
recipient always sees which company wrote.

The context travels in the task's message, so it holds plain values only (ids, strings,
numbers), and the mail is rendered by the worker in the sender's scope. An SMTP server
that is down or refuses costs retries (ATRIUM_MAIL_MAX_RETRIES, backoff with jitter),
never the request's own work: the send happens after the commit, and a failure to queue
it is logged, not raised.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from atrium.conf import atrium_settings
from atrium.tenants.celery import send_on_commit
from atrium.tenants.context import active_scope
from atrium.tenants.models import Domain
from atrium.tenants.naming import tenant_url

from .tasks import TRANSIENT_ERRORS, platform_task, tenant_task

logger = logging.getLogger(__name__)

# SMTP refusals and outages: smtplib's errors are OSErrors, as are refused connections.
SMTP_ERRORS = (*TRANSIENT_ERRORS, smtplib.SMTPException, OSError)
_RETRY = {
    "autoretry_for": SMTP_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 900,
    "retry_jitter": True,
}


def mail_send_on_commit(*, to: str, template: str, context: Mapping[str, Any]) -> None:
    """Send the mail ``template`` to ``to`` once the current transaction commits.

    Scope decides the sender: a tenant's mail in a tenant scope, the platform's in the
    public scope. The template is checked now, so a typo fails the caller, not the worker.
    """
    _templates_exist(template)
    task = send_platform_mail if active_scope().tenant is None else send_tenant_mail
    send_on_commit(
        task,
        kwargs={"to": to, "template": template, "context": dict(context)},
        on_error=lambda exc: logger.error(
            "mail: could not queue %s to %s: %r", template, _domain_of(to), exc
        ),
    )


def tenant_link(path: str, token: str) -> str:
    """``<primary URL of the tenant in scope>/<path>?token=<token>``: the link a mail carries."""
    return f"{_site_url()}{path.lstrip('/')}?{urlencode({'token': token})}"


def platform_link(path: str, token: str) -> str:
    """The same on the platform host (the base domain)."""
    return (
        f"{tenant_url(atrium_settings.BASE_DOMAIN)}{path.lstrip('/')}?{urlencode({'token': token})}"
    )


@tenant_task(name="mail.send_tenant", max_retries=atrium_settings.MAIL_MAX_RETRIES, **_RETRY)
def send_tenant_mail(*, to: str, template: str, context: dict[str, Any]) -> None:
    _send(to, template, context)


@platform_task(name="mail.send_platform", max_retries=atrium_settings.MAIL_MAX_RETRIES, **_RETRY)
def send_platform_mail(*, to: str, template: str, context: dict[str, Any]) -> None:
    _send(to, template, context)


def _send(to: str, template: str, context: dict[str, Any]) -> None:
    tenant = active_scope().tenant
    sender_name = tenant.name if tenant is not None else atrium_settings.PLATFORM_NAME
    context = {"tenant_name": sender_name, "tenant_url": _site_url(), **context}
    subject = " ".join(render_to_string(f"mail/{template}.subject.txt", context).split())
    if sender_name not in subject:
        subject = f"[{sender_name}] {subject}"
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"mail/{template}.txt", context),
        from_email=formataddr((sender_name, address)),
        to=[to],
    )
    message.attach_alternative(render_to_string(f"mail/{template}.html", context), "text/html")
    message.send(fail_silently=False)
    logger.info("mail: sent %s to a recipient at %s", template, _domain_of(to))


def _site_url() -> str:
    """The primary URL of the tenant in scope, or the platform's in the public scope."""
    tenant = active_scope().tenant
    if tenant is None:
        return tenant_url(atrium_settings.BASE_DOMAIN)
    host = (
        Domain.objects.filter(tenant_id=tenant.pk, is_primary=True)
        .values_list("domain", flat=True)
        .first()
    )
    return tenant_url(host or f"{tenant.slug}.{atrium_settings.BASE_DOMAIN}")


def _templates_exist(template: str) -> None:
    from django.template.loader import get_template

    for suffix in ("subject.txt", "txt", "html"):
        get_template(f"mail/{template}.{suffix}")


def _domain_of(address: str) -> str:
    # Logs name the recipient's domain only: an address is personal data.
    return address.rpartition("@")[2] or "?"
