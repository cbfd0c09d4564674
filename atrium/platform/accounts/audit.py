"""Audit entries of the sign-ins Django's auth reports through its signals: failures (the
API's and the tenant admin's, both go through ``authenticate``) and the admin's session
sign-in and sign-out. The API's own sign-in and log-out record theirs where they happen
(``auth.TokenObtainSerializer``, ``tokens.refresh_token_revoke``)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from atrium.platform.audit.models import ActorType
from atrium.platform.audit.services import Actor, audit_log_active, audit_record

from .emails import canonical_email
from .models import User


def _via(request) -> str:
    path = getattr(request, "path", "") or ""
    return "api" if path.startswith("/api/") else "admin"


def login_failed_record(*, email: str, request, reason: str = "invalid_credentials") -> None:
    """``auth.login_failed`` for ``email``: the account it names, if any, is the target; the
    actor is whoever sent it, known only by the e-mail they typed."""
    email = canonical_email(email or "")[:254]
    user = User.objects.filter(email=email).only("pk").first() if email else None
    audit_record(
        "auth.login_failed",
        target_type="accounts.user",
        target_id=user.pk if user is not None else "",
        target_label=email,
        actor=Actor(ActorType.USER, "", email or "anonymous"),
        metadata={"via": _via(request), "reason": reason},
    )


@receiver(user_login_failed, dispatch_uid="atrium.accounts.audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    if audit_log_active():
        login_failed_record(
            email=credentials.get("email") or credentials.get("username") or "", request=request
        )


@receiver(user_logged_in, dispatch_uid="atrium.accounts.audit.logged_in")
def _logged_in(sender, request, user, **kwargs) -> None:
    if audit_log_active():
        audit_record("auth.login", target=user, actor=user, metadata={"via": _via(request)})


@receiver(user_logged_out, dispatch_uid="atrium.accounts.audit.logged_out")
def _logged_out(sender, request, user, **kwargs) -> None:
    if audit_log_active() and user is not None:
        audit_record("auth.logout", target=user, actor=user, metadata={"via": _via(request)})
