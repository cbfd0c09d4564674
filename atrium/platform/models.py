"""Model bases every tenant app uses: UUID keys and timestamps, soft delete, stable slugs."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Collection

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import slugify


class BaseModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class SoftDeleteQuerySet(models.QuerySet):
    def delete(self) -> int:  # type: ignore[override]
        """Soft-delete every row of the queryset (``hard_delete()`` removes them)."""
        return self.filter(is_deleted=False).update(is_deleted=True, deleted_at=timezone.now())

    def hard_delete(self):
        return super().delete()

    def alive(self) -> SoftDeleteQuerySet:
        return self.filter(is_deleted=False)

    def deleted(self) -> SoftDeleteQuerySet:
        return self.filter(is_deleted=True)


class LiveManager(models.Manager.from_queryset(SoftDeleteQuerySet)):
    """The default manager: soft-deleted rows do not exist for everyday code."""

    def get_queryset(self) -> SoftDeleteQuerySet:
        return super().get_queryset().filter(is_deleted=False)


class SoftDeleteModel(models.Model):
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = LiveManager()
    all_objects = models.Manager.from_queryset(SoftDeleteQuerySet)()

    class Meta:
        abstract = True
        # Related lookups (review.product) must still reach a soft-deleted parent.
        base_manager_name = "all_objects"

    def delete(self, using=None, keep_parents=False):  # type: ignore[override]
        self.is_deleted = True
        self.deleted_at = timezone.now()
        self.save(update_fields=["is_deleted", "deleted_at", *self._touched_fields()])
        return 1, {self._meta.label: 1}

    def hard_delete(self, using=None, keep_parents=False):
        return super().delete(using=using, keep_parents=keep_parents)

    def restore(self) -> None:
        self.is_deleted = False
        self.deleted_at = None
        self.save(update_fields=["is_deleted", "deleted_at", *self._touched_fields()])

    def _touched_fields(self) -> list[str]:
        return [f.name for f in self._meta.concrete_fields if getattr(f, "auto_now", False)]


def live_unique(*fields, name: str, expressions=()) -> models.UniqueConstraint:
    """A unique constraint that ignores soft-deleted rows (a partial unique index)."""
    return models.UniqueConstraint(
        *expressions, fields=fields, condition=models.Q(is_deleted=False), name=name
    )


SLUG_MAX_ATTEMPTS = 20


def save_with_unique_slug(
    instance: models.Model, source: str, *, field: str = "slug", reserved: Collection[str] = ()
) -> None:
    """Give a new ``instance`` a slug from ``source`` that is unique among live rows, and save.

    The slug is set once, at creation, so links stay stable when the name changes. A
    ``reserved`` slug (one that a route next to the detail route already answers, such as
    ``products/top-rated/``) is never given: the row could not be reached by it. Two
    concurrent creations can pick the same candidate; the partial unique index decides, and
    the loser retries with the next suffix inside a savepoint, so the race cannot fail.
    """
    model = type(instance)
    max_length = model._meta.get_field(field).max_length
    base = (slugify(source) or "item")[: max_length - 6].strip("-") or "item"
    taken = set(reserved) | set(
        model.objects.filter(**{f"{field}__startswith": base}).values_list(field, flat=True)
    )

    def free_candidates():
        for suffix in itertools.count(1):
            candidate = base if suffix == 1 else f"{base}-{suffix}"
            if candidate not in taken:
                yield candidate

    # The attempts bound the saves lost to concurrent creations, not the slugs known to be
    # taken: those are skipped (a 21st "Garden" used to fail with an IntegrityError).
    for candidate in itertools.islice(free_candidates(), SLUG_MAX_ATTEMPTS):
        setattr(instance, field, candidate)
        try:
            with transaction.atomic():
                instance.save()
            return
        except IntegrityError as exc:
            if field not in str(exc):
                raise
            taken.add(candidate)
    raise IntegrityError(f"Could not find a free {field} for {source!r}.")
