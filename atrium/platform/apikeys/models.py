"""API keys, built on djangorestframework-api-key's model and SHA-512 hasher, and the
principal a key authenticates as.

The library's ``AbstractAPIKey`` gives the name, prefix, hash, expiry and a revocation that
cannot be undone; its primary key (``<prefix>.<hash>``) is replaced by a UUID, so the API's
``{id}`` never carries the hash. The table lives in each tenant's schema, and each hash is
of the tenant's id and the key together (``crypto.py``): a key is found only in its own
tenant's schema, and a copy of the rows restored elsewhere (an import, a purged and
re-created tenant) verifies nothing.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from atrium.platform.accounts.models import User


class APIKeyManager(BaseAPIKeyManager):
    """The library's manager, for its admin; keys are made by ``services.api_key_create``."""

    def active(self):
        return self.filter(revoked=False)


class APIKey(AbstractAPIKey):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scopes = ArrayField(models.CharField(max_length=16))
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_keys")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = APIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        abstract = False
        ordering = ("-created",)

    @property
    def is_expired(self) -> bool:
        return self.expiry_date is not None and self.expiry_date <= timezone.now()


class ApiKeyPrincipal(User):
    """What ``request.user`` is on a request made with an API key: the key's creator, read
    afresh on every request, acting with ``scopes.key_role`` (never above the creator's
    current role). ``api_key`` is the key; ``scope_withheld_admin`` says the creator is an
    admin or owner but the key lacks the ``admin`` scope (a refusal then is
    ``insufficient_scope``). It is never saved: its role is the key's, not the person's."""

    api_key: APIKey | None = None
    scope_withheld_admin = False

    class Meta:
        proxy = True

    def save(self, *args, **kwargs) -> None:
        raise TypeError("An API key's principal is read-only: load the User to change the person.")
