"""What accounts hold about a person: the account itself, and their sessions (refresh-token
records of the API, sessions of the tenant admin). Erasing the account is the services'
own last step; here the sessions go."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from atrium.platform.accounts.models import AccountToken, UserSession


def collect_account(user) -> dict:
    return {
        "id": str(user.pk),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "date_joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
    }


def _admin_sessions(user) -> list[Session]:
    # The session table is keyed by an opaque key: the user's are found by decoding each
    # live one (erasure and exports are rare; sessions of a tenant's admin are few).
    return [
        session
        for session in Session.objects.filter(expire_date__gt=timezone.now())
        if session.get_decoded().get("_auth_user_id") == str(user.pk)
    ]


def collect_sessions(user) -> dict:
    tokens = OutstandingToken.objects.filter(user=user).order_by("created_at")
    return {
        "sign_ins": [
            {
                "id": str(session.pk),
                "created_at": session.created_at.isoformat(),
                "last_used_at": session.last_used_at.isoformat(),
                "expires_at": session.expires_at.isoformat(),
                "user_agent": session.user_agent,
                "ip_address": session.ip_address,
                "revoked_at": session.revoked_at.isoformat() if session.revoked_at else None,
            }
            for session in UserSession.objects.filter(user=user).order_by("created_at")
        ],
        "pending_mail_tokens": [
            {
                "purpose": token.purpose,
                "new_email": token.new_email,
                "created_at": token.created_at.isoformat(),
                "expires_at": token.expires_at.isoformat(),
                "used_at": token.used_at.isoformat() if token.used_at else None,
            }
            for token in AccountToken.objects.filter(user=user).order_by("created_at")
        ],
        "api_refresh_tokens": [
            {
                "jti": token.jti,
                "created_at": token.created_at.isoformat() if token.created_at else None,
                "expires_at": token.expires_at.isoformat(),
                "revoked": hasattr(token, "blacklistedtoken"),
            }
            for token in tokens.select_related("blacklistedtoken")
        ],
        "admin_sessions": [
            {"expires_at": session.expire_date.isoformat()} for session in _admin_sessions(user)
        ],
    }


def erase_sessions(user) -> dict[str, int]:
    """Every sign-in (with its IP and user agent), refresh-token record (the tokens
    themselves die with the token version the erasure raises), mail token (reset, e-mail
    change) and admin session of the person."""
    sign_ins, _ = UserSession.objects.filter(user=user).delete()
    mail_tokens, _ = AccountToken.objects.filter(user=user).delete()
    _, per_model = OutstandingToken.objects.filter(user=user).delete()
    tokens = per_model.get(OutstandingToken._meta.label, 0)
    sessions = _admin_sessions(user)
    Session.objects.filter(pk__in=[s.pk for s in sessions]).delete()
    return {
        "sign_ins": sign_ins,
        "mail_tokens": mail_tokens,
        "refresh_tokens": tokens,
        "admin_sessions": len(sessions),
    }
