"""What the audit log holds about a person: the entries where they (or one of their API
keys) are the actor, or their account is the target, and those that name them by e-mail
where no id links them (a failed sign-in or a lockout typed with it, as the actor's label;
an invitation to it, as the target's: ``<e-mail> (<role>)``).

Erasure pseudonymises those entries: the ids stay (the trail still says that one account
did this), the labels become ``erased user``, the IP and user agent of their own requests
are dropped, and the e-mail and name in the changes of their account are masked. The log is
append-only (a trigger refuses UPDATE); this is the second documented path that lifts it
for its own statement, next to the retention purge, and it touches only those columns.
The e-mail matches are on unindexed labels: one scan of the log per erasure.
"""

from __future__ import annotations

import pgtrigger
from django.db import transaction
from django.db.models import Q

from atrium.platform.audit.models import APPEND_ONLY_TRIGGER, ActorType, AuditEvent

ERASED_LABEL = "erased user"
PERSONAL_CHANGES = ("email", "name")
USER_TARGET = "accounts.user"


def _key_ids(user) -> list[str]:
    return [str(pk) for pk in user.api_keys.values_list("pk", flat=True)]


def _as_actor(user) -> Q:
    return Q(actor_type=ActorType.USER, actor_id=str(user.pk)) | Q(
        actor_type=ActorType.API_KEY, actor_id__in=_key_ids(user)
    )


def _as_target(user) -> Q:
    return Q(target_type=USER_TARGET, target_id=str(user.pk))


def _named_as_actor(user) -> Q:
    return Q(actor_label=user.email)


def _named_as_target(user) -> Q:
    return Q(target_label=user.email) | Q(target_label__startswith=f"{user.email} (")


def collect_audit_events(user) -> list[dict]:
    about = _as_actor(user) | _as_target(user) | _named_as_actor(user) | _named_as_target(user)
    entries = AuditEvent.objects.filter(about).order_by("at", "id")
    return [
        {
            "id": str(entry.pk),
            "at": entry.at.isoformat(),
            "actor_type": entry.actor_type,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "target_label": entry.target_label,
            "ip": entry.ip,
            "user_agent": entry.user_agent,
            "changes": entry.changes,
        }
        for entry in entries
    ]


def erase_audit_events(user) -> dict[str, int]:
    with transaction.atomic(), pgtrigger.ignore(APPEND_ONLY_TRIGGER):
        acted = AuditEvent.objects.filter(_as_actor(user) | _named_as_actor(user)).update(
            actor_label=ERASED_LABEL, ip=None, user_agent=""
        )
        targeted = 0
        about = _as_target(user) | _named_as_target(user)
        for entry in AuditEvent.objects.filter(about).only("pk", "changes"):
            masked = {
                field: (["(erased)", "(erased)"] if field in PERSONAL_CHANGES else pair)
                for field, pair in entry.changes.items()
            }
            AuditEvent.objects.filter(pk=entry.pk).update(target_label=ERASED_LABEL, changes=masked)
            targeted += 1
    return {"as_actor": acted, "as_target": targeted}
