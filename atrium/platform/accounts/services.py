"""User management services of a tenant: create (invite), update, deactivate.

The rules: only owners grant or take away the owner role, admins manage members and
admins, and a tenant always keeps at least one active owner. The last-owner check locks
the owner rows, so two concurrent demotions cannot both pass it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from atrium.platform.errors import Conflict, DomainError, PermissionDenied

from .models import Role, User

GENERATED_SECRET_HASHER = "generated_sha256"


class LastOwnerError(Conflict):
    code = "last_owner"


@dataclass(frozen=True)
class CreatedUser:
    user: User
    one_time_password: str | None


def _check_may_manage(actor: User, *, target_role: str, target: User | None = None) -> None:
    touches_owner = target_role == Role.OWNER or (target is not None and target.role == Role.OWNER)
    if touches_owner and actor.role != Role.OWNER:
        raise PermissionDenied("Only owners may grant, change or remove the owner role.")
    if actor.role not in (Role.OWNER, Role.ADMIN):
        raise PermissionDenied("Only owners and admins may manage users.")


def _ensure_another_active_owner(user: User) -> None:
    owners = list(
        User.objects.select_for_update()
        .filter(role=Role.OWNER, is_active=True)
        .values_list("pk", flat=True)
    )
    if owners == [user.pk]:
        raise LastOwnerError("A tenant must keep at least one active owner.")


def user_create(
    *, actor: User, email: str, name: str = "", role: str = Role.MEMBER, password: str | None = None
) -> CreatedUser:
    _check_may_manage(actor, target_role=role)
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(f"A user with the e-mail {email!r} exists already.", code="email_taken")
    one_time = None
    if password is None:
        one_time = secrets.token_urlsafe(24)
        encoded = make_password(one_time, hasher=GENERATED_SECRET_HASHER)
    else:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise DomainError(" ".join(exc.messages), code="password_invalid") from None
        encoded = make_password(password)
    user = User(email=email, name=name, role=role, password=encoded, is_staff=role != Role.MEMBER)
    user.full_clean(exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise Conflict(
            f"A user with the e-mail {email!r} exists already.", code="email_taken"
        ) from None
    return CreatedUser(user=user, one_time_password=one_time)


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    name: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    changes_access = (role is not None and role != user.role) or is_active is not None
    if changes_access:
        _check_may_manage(actor, target_role=role or user.role, target=user)
        losing_owner = user.role == Role.OWNER and (
            (role is not None and role != Role.OWNER) or is_active is False
        )
        if losing_owner and user.is_active:
            _ensure_another_active_owner(user)
    elif actor.pk != user.pk:
        _check_may_manage(actor, target_role=user.role, target=user)
    if name is not None:
        user.name = name
    if role is not None:
        user.role = role
        user.is_staff = role != Role.MEMBER
    if is_active is not None:
        user.is_active = is_active
    user.full_clean(exclude=["password"])
    user.save()
    return user


def user_deactivate(*, actor: User, user: User) -> User:
    return user_update(actor=actor, user=user, is_active=False)
