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

from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from atrium.errors import Conflict, InvalidInput, PermissionDenied
from atrium.tenants.quotas import quota_check, quota_take

from .events import user_event
from .models import CreatedUser, Role, User


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


def user_create_check(*, actor: User, email: str, role: str, password: str | None) -> str:
    """Raise the domain error a creation would meet; returns the normalised e-mail."""
    _check_may_manage(actor, target_role=role)
    quota_check("seats")
    email = User.objects.normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise Conflict(f"A user with the e-mail {email!r} exists already.", code="email_taken")
    if password is not None:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), code="password_invalid") from None
    return email


def user_create(
    *, actor: User, email: str, name: str = "", role: str = Role.MEMBER, password: str | None = None
) -> CreatedUser:
    email = user_create_check(actor=actor, email=email, role=role, password=password)
    try:
        with transaction.atomic():
            quota_take("seats")  # a new user is active: one more seat of the plan's
            created = User.objects.create_with_role(email, role=role, password=password, name=name)
            user_event("user.created", created.user)
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
    return user


def user_deactivate(*, actor: User, user: User) -> User:
    return user_update(actor=actor, user=user, is_active=False)


@transaction.atomic
def user_password_change(
    *, actor: User, user: User, password: str, current_password: str | None = None
) -> User:
    """Set ``user``'s password and revoke every token it holds (its sockets close).

    Users change their own password with ``current_password``; owners and admins set the
    password of users they manage without it.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if actor.pk == user.pk:
        if current_password is None or not check_password(current_password, user.password):
            raise InvalidInput(
                "The current password is missing or wrong: send the password you sign in "
                "with as current_password (POST /api/v1/users/me/password/).",
                code="wrong_password",
                field="current_password",
            )
    else:
        _check_may_manage(actor, target_role=user.role, target=user)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), code="password_invalid") from None
    user.set_password(password)
    user.save(update_fields=["password"])  # revokes the user's tokens (a new password)
    return user
