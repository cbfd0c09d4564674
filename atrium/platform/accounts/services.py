"""User management services of a tenant: create (invite), update, deactivate, password.

The rules: only owners grant or take away the owner role, admins manage members and
admins, and a tenant always keeps at least one active owner. An active user takes a seat
of the tenant's plan: creating or reactivating one past the plan's quota is refused (403
``quota_exceeded``, ``atrium.tenants.quotas``). The last-owner check locks
the owner rows, so two concurrent demotions cannot both pass it.

A deactivation, a change of role and a new password revoke every token of the user and
close its open sockets (``tokens.user_tokens_revoke``), in the same transaction as the
change. That is done once, by ``User.save()``, for every path that saves the change (these
services, the admins, a shell), so the services here only save.
"""

from __future__ import annotations

import logging

from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.errors import Conflict, InvalidInput, PermissionDenied
from atrium.platform.audit.services import audit_record, changes_between, snapshot
from atrium.platform.mail import mail_send_on_commit, tenant_link
from atrium.tenants.celery import send_on_commit
from atrium.tenants.quotas import quota_check, quota_take

from .account_tokens import account_token_issue, account_token_redeem
from .events import user_event
from .models import AccountToken, AccountTokenPurpose, CreatedUser, Role, User
from .tasks import password_reset_send

logger = logging.getLogger(__name__)


class LastOwnerError(Conflict):
    code = "last_owner"


def _check_may_manage(actor: User, *, target_role: str, target: User | None = None) -> None:
    touches_owner = target_role == Role.OWNER or (target is not None and target.role == Role.OWNER)
    if touches_owner and actor.role != Role.OWNER:
        raise PermissionDenied("Only owners may grant, change or remove the owner role.")
    if actor.role not in (Role.OWNER, Role.ADMIN):
        raise PermissionDenied("Only owners and admins may manage users.")


def _ensure_another_active_owner(user: User, *, lock: bool) -> None:
    owners = User.objects.filter(role=Role.OWNER, is_active=True)
    if lock:
        owners = owners.select_for_update()
    if list(owners.values_list("pk", flat=True)) == [user.pk]:
        raise LastOwnerError("A tenant must keep at least one active owner.")


def _validate_new_password(password: str, user: User | None = None, *, field: str) -> None:
    """Django's AUTH_PASSWORD_VALIDATORS; a refusal is 400 ``password_too_weak``."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), code="password_too_weak", field=field) from None


def user_create_check(*, actor: User, email: str, role: str, password: str | None) -> str:
    """Raise the domain error a creation would meet; returns the normalised e-mail."""
    _check_may_manage(actor, target_role=role)
    quota_check("seats")
    email = User.objects.normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise Conflict(f"A user with the e-mail {email!r} exists already.", code="email_taken")
    if password is not None:
        _validate_new_password(password, field="password")
    return email


def user_create(
    *,
    actor: User,
    email: str,
    name: str = "",
    role: str = Role.MEMBER,
    password: str | None = None,
    must_change_password: bool = False,
) -> CreatedUser:
    """A new user; without ``password`` it gets a one-time one it must change at first use
    (as with ``must_change_password``)."""
    email = user_create_check(actor=actor, email=email, role=role, password=password)
    try:
        with transaction.atomic():
            quota_take("seats")  # a new user is active: one more seat of the plan's
            created = User.objects.create_with_role(
                email,
                role=role,
                password=password,
                name=name,
                must_change_password=must_change_password,
            )
            user_event("user.created", created.user)
            audit_record("user.created", target=created.user, actor=actor, metadata={"role": role})
            return created
    except IntegrityError:
        raise Conflict(
            f"A user with the e-mail {email!r} exists already.", code="email_taken"
        ) from None


def user_update_check(
    *,
    actor: User,
    user: User,
    role: str | None = None,
    is_active: bool | None = None,
    lock: bool = False,
) -> None:
    """Raise the domain error a change would meet (the admin shows it on the form)."""
    changes_access = (role is not None and role != user.role) or (
        is_active is not None and is_active != user.is_active
    )
    if changes_access:
        _check_may_manage(actor, target_role=role or user.role, target=user)
        losing_owner = user.role == Role.OWNER and (
            (role is not None and role != Role.OWNER) or is_active is False
        )
        if losing_owner and user.is_active:
            _ensure_another_active_owner(user, lock=lock)
        if is_active and not user.is_active and not lock:
            quota_check("seats")  # the form's early answer; user_update takes the seat
    elif actor.pk != user.pk:
        _check_may_manage(actor, target_role=user.role, target=user)


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    name: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
) -> User:
    # The owner rows are locked, so two concurrent demotions cannot both pass the check.
    user = User.objects.select_for_update().get(pk=user.pk)
    user_update_check(actor=actor, user=user, role=role, is_active=is_active, lock=True)
    before = snapshot(user, AUDITED_USER_FIELDS)
    previous_role, was_active = user.role, user.is_active
    if name is not None:
        user.name = name
    if role is not None:
        user.apply_role(role)
    if is_active is not None:
        if is_active and not user.is_active:
            quota_take("seats")  # a reactivated user takes a seat again
        user.is_active = is_active
    user.full_clean(exclude=["password"])
    user.save()  # revokes the user's tokens on a deactivation or a change of role
    if user.role != previous_role:
        user_event("user.role_changed", user, previous_role=previous_role)
    if was_active and not user.is_active:
        user_event("user.deactivated", user)
    _user_update_audit(actor=actor, user=user, before=before)
    return user


# The fields of a user whose changes the audit log records, and the action of each.
AUDITED_USER_FIELDS = ("name", "role", "is_active")


def _user_update_audit(*, actor: User, user: User, before: dict) -> None:
    changes = changes_between(before, snapshot(user, AUDITED_USER_FIELDS))
    if "role" in changes:
        audit_record("user.role_changed", target=user, actor=actor, changes=_only(changes, "role"))
    if "is_active" in changes:
        action = "user.deactivated" if not user.is_active else "user.reactivated"
        audit_record(action, target=user, actor=actor, changes=_only(changes, "is_active"))
    if "name" in changes:
        audit_record("user.updated", target=user, actor=actor, changes=_only(changes, "name"))


def _only(changes: dict, field: str) -> dict:
    return {field: changes[field]}


def user_deactivate(*, actor: User, user: User) -> User:
    return user_update(actor=actor, user=user, is_active=False)


@transaction.atomic
def user_password_set(
    *, actor: User, user: User, password: str, must_change_password: bool = False
) -> User:
    """An owner or admin sets the password of a user they manage; every token the user
    holds is revoked (its sockets close). A chosen password, as at creation, is one-time
    only with ``must_change_password``."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if actor.pk == user.pk:
        raise PermissionDenied(
            "Change your own password with your current one: POST /api/v1/auth/password/change/."
        )
    _check_may_manage(actor, target_role=user.role, target=user)
    _validate_new_password(password, user, field="password")
    user.set_password(password)
    user.password_change_required = must_change_password
    # Revokes the user's tokens (a new password).
    user.save(update_fields=["password", "password_change_required"])
    _password_changed_notice(user, "set by an administrator")
    return user


# ---------------------------------------------------------------------- own password


def _password_replace(user: User, new_password: str) -> None:
    """Set a user's new password (validated by the caller): it is no longer one-time, and
    saving it revokes every token the user holds and closes its sockets (``User.save``)."""
    user.set_password(new_password)
    user.password_change_required = False
    user.save(update_fields=["password", "password_change_required"])


def _notice_time() -> str:
    return timezone.now().strftime("%Y-%m-%d %H:%M UTC")


def _password_changed_notice(user: User, how: str) -> None:
    """Tell the account's address that its password changed (after the commit): the one
    sign a person gets when someone else changed it."""
    mail_send_on_commit(
        to=user.email,
        template="accounts/password_changed",
        context={"name": user.name, "how": how, "changed_at": _notice_time()},
    )


@transaction.atomic
def password_change(*, user: User, current_password: str, new_password: str) -> User:
    """A user changes their own password, proving the current one (400 ``invalid_password``);
    the new one passes AUTH_PASSWORD_VALIDATORS (400 ``password_too_weak``). Every token
    the user held stops working when this commits; the caller issues the fresh pair."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not check_password(current_password, user.password):
        raise InvalidInput(
            "The current password is wrong: send the password you signed in with.",
            code="invalid_password",
            field="current_password",
        )
    _validate_new_password(new_password, user, field="new_password")
    _password_replace(user, new_password)
    _password_changed_notice(user, "changed")
    _audit("password.changed", user=user, actor=user)
    return user


# -------------------------------------------------------------------- password reset


def password_reset_request(*, email: str) -> None:
    """Queue the reset of ``email``'s password (after the commit), whoever owns it.

    The request does the same work for a known and an unknown address (it queues one
    task and reads nothing), so neither its answer nor its time tells them apart; the
    worker looks the address up and mails a link only when an active user has it."""
    send_on_commit(
        password_reset_send,
        kwargs={"email": User.objects.normalize_email(email)},
        on_error=lambda exc: logger.error("password reset: could not queue: %r", exc),
    )


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set a new password with a reset token (once; 400 ``invalid_token`` /
    ``token_expired``). A weak password (400 ``password_too_weak``) leaves the token unused.
    Every token the user held stops working, and the password is no longer one-time."""
    row = account_token_redeem(token=token, purpose=AccountTokenPurpose.PASSWORD_RESET)
    user = row.user
    _validate_new_password(new_password, user, field="new_password")
    _password_replace(user, new_password)
    _password_changed_notice(user, "reset with a link mailed to this address")
    _audit("password.reset", user=user, actor=user)
    return user


# ---------------------------------------------------------------------- e-mail change


def _email_free(email: str, user: User) -> None:
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        raise Conflict(f"A user with the e-mail {email!r} exists already.", code="email_taken")


@transaction.atomic
def email_change_request(*, user: User, new_email: str, password: str) -> None:
    """Mail a confirmation link to ``new_email``; the change happens when it is confirmed.
    Needs the user's password (400 ``invalid_password``); a taken address is 409."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not check_password(password, user.password):
        raise InvalidInput(
            "The password is wrong: send the password you sign in with.",
            code="invalid_password",
            field="password",
        )
    new_email = User.objects.normalize_email(new_email)
    _email_free(new_email, user)
    token = account_token_issue(
        user=user,
        purpose=AccountTokenPurpose.EMAIL_CHANGE,
        ttl=atrium_settings.EMAIL_CHANGE_TTL,
        new_email=new_email,
    )
    mail_send_on_commit(
        to=new_email,
        template="accounts/email_change",
        context={
            "name": user.name,
            "token": token,
            "link": tenant_link("confirm-email", token),
            "new_email": new_email,
        },
    )


@transaction.atomic
def email_change_confirm(*, token: str) -> User:
    """Make the change a confirmation token names (once; 409 ``email_taken`` when the
    address was taken in the meantime, and the token stays unused)."""
    row = account_token_redeem(token=token, purpose=AccountTokenPurpose.EMAIL_CHANGE)
    user = row.user
    _email_free(row.new_email, user)
    before = user.email
    user.email = row.new_email
    try:
        with transaction.atomic():
            user.save(update_fields=["email"])
    except IntegrityError:
        raise Conflict(
            f"A user with the e-mail {row.new_email!r} exists already.", code="email_taken"
        ) from None
    # Reset links went to the old address: they die with it.
    AccountToken.objects.filter(
        user=user, purpose=AccountTokenPurpose.PASSWORD_RESET, used_at=None
    ).delete()
    # The old address hears of it: if the change was not its owner's, they can act.
    mail_send_on_commit(
        to=before,
        template="accounts/email_changed",
        context={
            "name": user.name,
            "old_email": before,
            "new_email": user.email,
            "changed_at": _notice_time(),
        },
    )
    _audit("user.updated", user=user, actor=user, changes={"email": [before, user.email]})
    return user


def _audit(action: str, *, user: User, actor: User, changes: dict | None = None) -> None:
    """The audit trail of an account change, in its transaction. The actor is named: a
    reset or a confirmation comes with no signed-in user."""
    audit_record(action, target=user, actor=actor, changes=changes)
