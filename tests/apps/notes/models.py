"""Notes of a tenant: a title and a text, written by one of its users."""

from django.conf import settings
from django.db import models

from atrium.platform.models import BaseModel


class Note(BaseModel):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notes"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
