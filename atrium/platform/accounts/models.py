"""User: UUID, e-mail login (canonical e-mail, ``emails.py``), a tenant role, a token version.
One table per schema."""

import secrets
import uuid
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import PermissionsMixin
from django.db import models, transaction
from django.utils import timezone

from .emails import canonical_email
from .hashers import GENERATED_SECRET_HASHER


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True)
class CreatedUser:
    user: "User"
    one_time_password: str | None  # generated, shown once; None when a password was given


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """The canonical e-mail (``emails.canonical_email``): what is stored and compared."""
        return canonical_email(email)

    def get_by_natural_key(self, email: str):
        # Login (ModelBackend, the admin's form) looks users up here: one exact comparison
        # of canonical forms, never the database's own case mapping.
        return self.get(email=canonical_email(email))

    def _create(self, email: str, password: str | None, **fields):
        if not email:
            raise ValueError("A user needs an e-mail address.")
        user = self.model(email=self.normalize_email(email), **fields)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_with_role(
        self,
        email: str,
        *,
        role: str,
        password: str | None = None,
        name: str = "",
        must_change_password: bool = False,
        password_hash: str | None = None,
    ) -> CreatedUser:
        """Create a user of the tenant in scope with ``role``: the one way owners (and
        everyone else) are made, by ``tenants create``, the users API and the tenant admin.

        The role decides admin access (``User.apply_role``). Without a password, a one-time
        password is generated and returned once: 192 random bits, hashed with the fast
        hasher (``hashers.py``) so that creating a tenant stays in milliseconds; the first
        sign-in rehashes it. A given password is stored as given: callers validate it
        first, each with its own error (the CLI's, the API's). ``password_hash`` is a
        password hashed (and validated) earlier, stored as it is: sign-up keeps only that.

        A generated password is one-time for real: the user must change it before anything
        else works (``password_change_required``); a given one only with
        ``must_change_password``."""
        one_time = None
        if password_hash is not None:
            encoded = password_hash
        elif password is None:
            one_time = secrets.token_urlsafe(24)
            encoded = make_password(one_time, hasher=GENERATED_SECRET_HASHER)
        else:
            encoded = make_password(password)
        user = self.model(
            email=self.normalize_email(email),
            name=name,
            password=encoded,
            password_change_required=one_time is not None or must_change_password,
        )
        user.apply_role(role)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return CreatedUser(user=user, one_time_password=one_time)

    def create_user(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        fields.setdefault("role", Role.OWNER)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stored in its canonical form (emails.py), so uniqueness is plain equality.
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Carried in every token of the user (claim ATRIUM_JWT_VERSION_CLAIM) and compared with
    # this row on every request; raising it revokes every token issued before (tokens.py).
    token_version = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    # Set for a password Atrium generated (or one given with "must change"): until the user
    # changes it, the API answers only the password change, logout and users/me/ (403
    # password_change_required elsewhere). Read from the row authentication loads anyway.
    password_change_required = models.BooleanField(default=False, db_default=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        """Save, and revoke the user's tokens and close its sockets when the save takes
        authority away: ``is_active`` turned False, ``role`` changed, or a new password.

        Every path that saves the model (the services, the admins, a shell, Django's
        ``changepassword``) goes through here, so each such change revokes exactly once, in
        the save's transaction (the sockets close after the commit). The change is judged
        against the row as it is in the database, read and locked before the write, not
        against what this instance loaded: a stale instance cannot hide a deactivation.
        The token version is the row's too: only ``tokens.user_tokens_revoke`` raises it,
        and a save never writes back an older one.

        ``QuerySet.update()`` and ``bulk_update()`` write the table without calling
        ``save()``: a deactivation or role change made that way revokes nothing (a request
        still checks ``is_active`` and the role, but open sockets stay open and a later
        reactivation would find the old tokens valid again). Change access through the
        services (``services.user_update``) or ``save()``.
        """
        update_fields = kwargs.get("update_fields")
        saved = None if update_fields is None else set(update_fields)
        # Django marks a new password in ``_password`` until the save (any save: Django
        # clears the mark even when update_fields leaves the password out, so it counts
        # then too); rehashing on login clears it first, so only a real change of an
        # existing user's password counts.
        password_set = self._password is not None and not self._state.adding
        watched = {"is_active", "role", "token_version"}
        with transaction.atomic(using=kwargs.get("using")):
            before = None
            if not self._state.adding and (saved is None or saved & watched):
                before = (
                    type(self)
                    ._base_manager.using(kwargs.get("using"))
                    .select_for_update()
                    .filter(pk=self.pk)
                    .values("is_active", "role", "token_version")
                    .first()
                )
            if before is not None:
                self.token_version = before["token_version"]
            super().save(*args, **kwargs)
            reason = self._revocation_reason(before, saved, password_set)
            if reason:
                from .tokens import user_tokens_revoke_in_tenant

                user_tokens_revoke_in_tenant(user=self, reason=reason)

    def _revocation_reason(
        self, before: dict | None, saved: set[str] | None, password_set: bool
    ) -> str | None:
        """Why this save revokes the user's tokens (the sockets' close reason), or None."""

        def changed(field: str) -> bool:
            return (
                before is not None
                and (saved is None or field in saved)
                and (before[field] != getattr(self, field))
            )

        if changed("is_active") and not self.is_active:
            return "user_inactive"
        if changed("role"):
            return "role_changed"
        if password_set:
            return "password_changed"
        return None

    @classmethod
    def normalize_username(cls, username: str) -> str:
        # AbstractBaseUser.clean() (every full_clean, every admin form) stores this form;
        # Django's own is NFKC only, which leaves case and the dotless i apart.
        return canonical_email(username)

    def apply_role(self, role: str) -> None:
        """The role decides admin access: owners are superusers of their tenant's admin,
        admins are staff, members neither."""
        self.role = role
        self.is_staff = role in (Role.OWNER, Role.ADMIN)
        self.is_superuser = role == Role.OWNER

    @property
    def is_tenant_admin(self) -> bool:
        return self.is_active and self.role in (Role.OWNER, Role.ADMIN)


class UserSession(models.Model):
    """One sign-in of a user: the chain of refresh tokens that login started and each
    rotation continued (their ``sid`` claim names it). ``GET auth/sessions/`` lists the live
    ones; revoking one blacklists its current refresh token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()  # of its current refresh token
    user_agent = models.CharField(max_length=512, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    refresh_jti = models.CharField(max_length=255)  # its current refresh token
    # The user's token version when the current refresh token was issued: a session of an
    # older version is dead (logout, password change, ...).
    token_version = models.PositiveIntegerField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_used_at"]
        indexes = [models.Index(fields=["user", "-last_used_at"], name="usersession_user_used")]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"


class AccountTokenPurpose(models.TextChoices):
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE = "email_change"


class AccountToken(models.Model):
    """A one-time token that travels by mail (password reset, e-mail change).

    Only a SHA-256 of the token is stored, in the tenant's own schema: a token is unknown
    on every other tenant and after its tenant is purged and re-created. It works once
    (``used_at``), until ``expires_at``, and only while the user's password is the one it
    was issued under (``password_stamp``): any change of the password kills it.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=32, choices=AccountTokenPurpose.choices)
    digest = models.CharField(max_length=64, unique=True)
    password_stamp = models.CharField(max_length=64)
    new_email = models.EmailField(max_length=254, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(purpose__in=AccountTokenPurpose.values),
                name="accounttoken_purpose_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} token of {self.user_id}"
