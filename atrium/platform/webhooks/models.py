"""Webhook endpoints of a tenant, their deliveries (one per event and endpoint) and the
attempts of each delivery."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from atrium.platform.models import BaseModel

URL_MAX_LENGTH = 2048


class WebhookEndpoint(BaseModel):
    url = models.CharField(max_length=URL_MAX_LENGTH)
    description = models.CharField(max_length=500, blank=True, default="")
    events = ArrayField(models.CharField(max_length=100))
    enabled = models.BooleanField(default=True)
    # ``whsec_<base64>``: kept readable because every delivery is signed with it.
    secret = models.CharField(max_length=100)
    # The secret before the last rotation, which keeps signing until it expires.
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its first attempt or a retry
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # every attempt failed


class WebhookDelivery(BaseModel):
    # DB_CASCADE: PostgreSQL removes an endpoint's deliveries and their attempts in the
    # endpoint's DELETE itself. Django's collector (select the attempts, delete them,
    # delete the deliveries) would race a worker inserting an attempt in between.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.DB_CASCADE, related_name="deliveries"
    )
    # The Standard Webhooks ``webhook-id``: one per event, the same on every attempt.
    webhook_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=100)
    # The body exactly as sent (and signed) on every attempt.
    payload = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "webhook_id"], name="webhook_delivery_once_per_endpoint"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values),
                name="webhook_delivery_status_valid",
            ),
        ]
        indexes = [
            # The drain's question: what is due now?
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status="pending"),
            )
        ]


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.DB_CASCADE, related_name="attempts"
    )
    attempted_at = models.DateTimeField()
    # None: no answer (timeout, refused connection, blocked address).
    response_status = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # The first KiB of the answer's body.
    response_body = models.TextField(blank=True, default="")
    error = models.CharField(max_length=300, blank=True, default="")
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.response_status or self.error} at {self.attempted_at}"
