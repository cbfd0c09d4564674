"""``AuditEvent``: one entry of a tenant's audit log, append-only by a database trigger."""

from __future__ import annotations

import uuid

import pgtrigger
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class ActorType(models.TextChoices):
    USER = "user"
    API_KEY = "api_key"
    OPERATOR = "operator"
    SYSTEM = "system"


# The trigger that refuses UPDATE and DELETE, by its pgtrigger URI: the retention purge
# (services.audit_purge_expired) is the only code that lifts it, with pgtrigger.ignore.
APPEND_ONLY_TRIGGER = "audit.AuditEvent:append_only"


class AuditEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(default=timezone.now, editable=False)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    # A user's id, an API key's id, an operator's OS user@host; empty for the system.
    actor_id = models.CharField(max_length=150, blank=True, default="")
    actor_label = models.CharField(max_length=255, blank=True, default="")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=150, blank=True, default="")
    target_label = models.CharField(max_length=255, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    # {field: [before, after]}; secrets and password hashes are dropped before saving.
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    metadata = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        # Newest first; the id breaks ties so that a cursor never skips or repeats a row.
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_newest"),
            models.Index(fields=["action", "-at", "-id"], name="audit_action_newest"),
            models.Index(fields=["actor_id", "-at", "-id"], name="audit_actor_newest"),
            models.Index(
                fields=["target_type", "target_id", "-at", "-id"], name="audit_target_newest"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(actor_type__in=ActorType.values), name="audit_actor_type_valid"
            )
        ]
        triggers = [
            # Append-only: the database refuses every UPDATE and DELETE, whoever sends it.
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.actor_label}"
