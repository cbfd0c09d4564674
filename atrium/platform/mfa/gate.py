"""Where MFA meets sign-in and every request (hooked in by ``MfaConfig.ready``):

* ``sign_in_challenge``: after a right password, a user with MFA on gets 401
  ``mfa_required`` with an ``mfa_token`` instead of a token pair;
* ``enrolment_gate``: while the tenant requires MFA of owners and admins
  (``Tenant.require_mfa_for_admins``, carried by routing), an owner or admin without it
  gets 403 ``mfa_enrolment_required`` on every token-authenticated route but enrolment,
  ``users/me/`` (and logout, which takes no token), and a socket is refused (4403, the
  same reason: ``atrium.platform.realtime.middleware``). For everybody else it costs nothing:
  the flag and the role are in memory; only a gated admin's request reads one row.
"""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from atrium.platform.accounts.models import User

from . import errors, selectors, services

# URL names an owner or admin may call before enrolling. The password change is one: an
# admin whose password is one-time must change it first (only that answers them until then).
ENROLMENT_ROUTES = frozenset({"mfa-totp", "mfa-totp-confirm", "user-me", "auth-password-change"})


def sign_in_challenge(request: Request, user: User) -> None:
    """Raises ``MfaRequired`` (401, with the mfa_token) when ``user`` has MFA on."""
    if selectors.mfa_enabled(user):
        raise errors.MfaRequired(mfa_token=services.mfa_challenge_issue(user=user))


def enrolment_gate(request: Request, user: User) -> None:
    """403 ``mfa_enrolment_required`` for an owner or admin who must enrol and has not."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name in ENROLMENT_ROUTES:
        return
    if selectors.mfa_enrolment_pending(user):
        error = errors.MfaEnrolmentRequired()
        # A DRF exception: raised while authenticating, DRF then treats the request as
        # anonymous instead of authenticating it again.
        raise PermissionDenied(error.message, code=error.code)
