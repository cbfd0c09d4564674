"""Keeps the host directory honest: any Tenant or Domain change invalidates it after commit."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .directory import invalidate_directory
from .models import Domain, Tenant


@receiver([post_save, post_delete], sender=Tenant)
@receiver([post_save, post_delete], sender=Domain)
def _invalidate_routing(**kwargs) -> None:
    transaction.on_commit(invalidate_directory)
