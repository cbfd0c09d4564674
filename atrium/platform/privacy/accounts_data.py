"""What accounts hold about a person: the account itself, and their sessions (refresh-token
records of the API, sessions of the tenant admin). Erasing the account is the services'
own last step; here the sessions go."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken


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
    """Every refresh-token record (the tokens themselves die with the token version the
    erasure raises) and every admin session of the person."""
    _, per_model = OutstandingToken.objects.filter(user=user).delete()
    tokens = per_model.get(OutstandingToken._meta.label, 0)
    sessions = _admin_sessions(user)
    Session.objects.filter(pk__in=[s.pk for s in sessions]).delete()
    return {"refresh_tokens": tokens, "admin_sessions": len(sessions)}
