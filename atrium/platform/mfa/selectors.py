"""MFA reads: is it on for a user, does the tenant require it of them."""

from __future__ import annotations

from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import current_tenant

from .models import TOTPDevice

ADMIN_ROLES = (Role.OWNER, Role.ADMIN)


def mfa_enabled(user: User) -> bool:
    """A confirmed authenticator (one indexed lookup)."""
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def mfa_required_for(user: User) -> bool:
    """The tenant requires MFA of ``user``'s role (read from routing's record: no SQL)."""
    return user.role in ADMIN_ROLES and bool(
        getattr(current_tenant(), "require_mfa_for_admins", False)
    )


def mfa_enrolment_pending(user: User) -> bool:
    """The tenant requires MFA of ``user`` and it is not on yet (no query unless required)."""
    return mfa_required_for(user) and not mfa_enabled(user)
