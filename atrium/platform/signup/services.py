"""Sign-up on the platform host: a company asks for a tenant, confirms its e-mail, and gets
the tenant, made by ``tenants.provisioning.tenant_create`` (what ``tenants create`` runs),
from the spare pool.

Slugs are validated and reserved as the CLI does (``tenants.naming.validate_slug``). A slug
that is taken, or held by another address's pending sign-up, is a 409 ``slug_taken``; a
second sign-up of the same address for the same slug replaces its first (a new token, the
old link dead), so a lost mail is no dead end. The owner's password is hashed at sign-up
and only the hash is kept, then given to the owner's account as is. The creation is
recorded in the platform's audit log (``tenant.created``, source ``signup``, actor the
confirmed address), in the creation's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.errors import InvalidInput
from atrium.platform.accounts.tokens import TokenPair, token_pair_issue
from atrium.platform.mail import mail_send_on_commit, platform_link
from atrium.tenants.audit import Operator, operator_scope
from atrium.tenants.context import tenant_scope
from atrium.tenants.errors import DomainTaken, SlugTaken
from atrium.tenants.models import Tenant
from atrium.tenants.naming import validate_name, validate_slug
from atrium.tenants.provisioning import tenant_create

from . import errors
from .models import PendingSignup, token_digest, token_new

CONFIRM_PATH = "signup/confirm"


@dataclass(frozen=True)
class SignupConfirmed:
    tenant: Tenant
    url: str
    tokens: TokenPair


def _lock_slug(slug: str) -> None:
    """Serialise sign-ups of one slug until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"signup:{slug}"])


def _slug_taken(slug: str) -> SlugTaken:
    return SlugTaken(f"The slug {slug!r} is taken; choose another.")


@transaction.atomic
def signup_request(*, company_name: str, slug: str, email: str, password: str) -> PendingSignup:
    """Hold ``slug`` for ``email`` and mail the verification link (run in the public scope)."""
    slug = validate_slug(slug)
    company_name = validate_name(company_name)
    try:
        validate_password(password, user=get_user_model()(email=email, name=company_name))
    except ValidationError as exc:
        raise InvalidInput(
            " ".join(exc.messages), code=errors.PASSWORD_TOO_WEAK, field="password"
        ) from None
    _lock_slug(slug)
    if Tenant.objects.filter(slug=slug).exists():
        raise _slug_taken(slug)
    now = timezone.now()
    held = PendingSignup.objects.filter(slug=slug, confirmed_at__isnull=True)
    if held.filter(expires_at__gt=now).exclude(email=email).exists():
        raise _slug_taken(slug)
    held.delete()  # expired ones, and this address's own earlier request (its link dies)
    # Requests nobody confirmed in time hold nothing any more: they go (few: rate-limited).
    PendingSignup.objects.filter(confirmed_at__isnull=True, expires_at__lte=now).delete()
    token = token_new()
    signup = PendingSignup(
        company_name=company_name,
        slug=slug,
        email=email,
        password_hash=make_password(password),
        token_hash=token_digest(token),
        expires_at=now + timedelta(seconds=atrium_settings.SIGNUP_TTL),
    )
    signup.save()
    mail_send_on_commit(
        to=email,
        template="signup/verify",
        context={
            "link": platform_link(CONFIRM_PATH, token),
            "token": token,
            "company_name": company_name,
            "slug": slug,
            "expires_at": signup.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        },
    )
    return signup


def _pending(token: str) -> PendingSignup:
    signup = (
        PendingSignup.objects.select_for_update().filter(token_hash=token_digest(token)).first()
    )
    if signup is None:
        raise errors.SignupInvalid()
    if signup.confirmed_at is not None:
        raise errors.SignupUsed()
    if signup.expires_at <= timezone.now():
        raise errors.SignupExpired()
    return signup


def signup_confirm(*, token: str, request: HttpRequest | None = None) -> SignupConfirmed:
    """Create the tenant of a pending sign-up and sign its owner in (public scope); the
    owner's first session records ``request``'s client, as a sign-in does.

    One transaction: the sign-up is spent exactly when the tenant is created; a slug taken
    meanwhile is a 409 ``slug_taken`` and leaves the sign-up as it was."""
    with transaction.atomic():
        signup = _pending(token)
        try:
            # The platform's audit log names who made the tenant: the confirmed address.
            with operator_scope(Operator(source="signup", actor=signup.email)):
                provisioned = tenant_create(
                    slug=signup.slug,
                    name=signup.company_name,
                    owner_email=signup.email,
                    owner_password_hash=signup.password_hash,
                    audit_details={"via": "signup", "owner_email": signup.email},
                )
        except DomainTaken:
            raise _slug_taken(signup.slug) from None
        signup.confirmed_at = timezone.now()
        signup.password_hash = ""  # the owner's account holds it now
        signup.save(update_fields=["confirmed_at", "password_hash"])
    with tenant_scope(provisioned.tenant):
        owner = get_user_model().objects.get(email=provisioned.owner_email)
        tokens = token_pair_issue(user=owner, request=request)
        update_last_login(None, owner)  # confirming signs the owner in
    return SignupConfirmed(tenant=provisioned.tenant, url=provisioned.url, tokens=tokens)
