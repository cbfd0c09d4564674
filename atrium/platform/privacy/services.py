"""A person's data (GDPR Art. 15 and 17): the export job, and erasure.

Both walk the registry (``registry.py``): every app that holds something about a person
registered how to collect it and how to erase it. These services live beside accounts
rather than in it because they submit jobs, and the jobs app already depends on accounts.

Erasure, in one transaction, by rule:

* **account**: e-mail ``erased-<id>@erased.invalid``, name empty, password unusable, role
  member, deactivated (its seat is freed); the id stays, so the rows that point to it
  (products, reviews, jobs, audit entries) stay consistent and point to no one;
* **tokens, keys and sessions**: the token version is raised (every access and refresh
  token dies, open sockets close), refresh-token records and admin sessions are deleted,
  the person's API keys revoked;
* **content**: each app's rule (``catalog``: reviews keep their rating and product, lose
  their title and body; products stay the tenant's, owned by the anonymised account;
  ``invitations``: those addressed to them are revoked if pending and lose their e-mail);
* **audit**: the entries about them, or naming their e-mail, pseudonymised
  (``audit_data.py``), and one ``user.erased`` entry naming the account by id only, with
  counts.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from atrium.errors import PermissionDenied
from atrium.platform.accounts.events import user_event
from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.permissions import refuse_api_keys
from atrium.platform.accounts.services import LastOwnerError
from atrium.platform.accounts.tokens import user_tokens_revoke
from atrium.platform.audit.services import audit_record
from atrium.platform.jobs import services as job_services
from atrium.platform.jobs import storage
from atrium.platform.jobs.models import Job
from atrium.tenants.context import current_tenant

from .registry import erased_email, registered

EXPORT_KIND = "privacy.data_export"
EXPORT_FORMAT = "atrium.person-data/1"


def _is_admin(actor: User) -> bool:
    return actor.is_tenant_admin


def user_data_collect(*, user: User) -> dict:
    """Everything the tenant's apps hold about ``user``, as one JSON-able document."""
    tenant = current_tenant()
    document = {
        "format": EXPORT_FORMAT,
        "generated_at": timezone.now().isoformat(),
        "tenant": tenant.slug,
        "user_id": str(user.pk),
    }
    for entry in registered():
        document[entry.name] = entry.collect(user)
    return document


def user_data_export_start(*, actor: User, user: User, task) -> Job:
    """Start the export of ``user``'s data (admins, or the user themselves): a job run by
    ``task`` (``tasks.export_person_data``, passed in: that module calls these services)
    whose download is the JSON document."""
    if not (_is_admin(actor) or actor.pk == user.pk):
        raise PermissionDenied("Only admins, or the person themselves, may export their data.")
    # Whose data: the job's result until the task replaces it with its own.
    return job_services.job_submit(
        kind=EXPORT_KIND, created_by=actor, task=task, result={"user_id": str(user.pk)}
    )


def user_data_export_run(*, job: Job) -> Job:
    job = job_services.job_start(job=job)
    user = User.objects.get(pk=job.result["user_id"])
    document = user_data_collect(user=user)
    body = json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    path = storage.save(f"privacy/person-{user.pk}-{job.pk}.json", body.encode())
    return job_services.job_finish(
        job=job,
        result={"user_id": str(user.pk), "sections": [entry.name for entry in registered()]},
        output_path=path,
    )


def _check_may_erase(actor: User, user: User) -> None:
    refuse_api_keys(actor)  # irreversible: a person decides
    if actor.role == Role.OWNER and actor.is_active:
        return
    if actor.role == Role.ADMIN and actor.is_active and user.role != Role.OWNER:
        return
    raise PermissionDenied("Only owners erase users, and admins erase users who are not owners.")


def _record_erasure(user: User, counts: dict) -> None:
    audit_record(
        "user.erased",
        target_type="accounts.user",
        target_id=str(user.pk),
        target_label="erased user",
        metadata={"counts": counts},
    )


@transaction.atomic
def user_erase(*, actor: User, user: User) -> User:
    """Erase ``user`` (owners; admins for non-owners): see the module's rules. The last
    active owner cannot be erased (409 ``last_owner``)."""
    _check_may_erase(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.role == Role.OWNER and user.is_active:
        owners = User.objects.select_for_update().filter(role=Role.OWNER, is_active=True)
        if list(owners.values_list("pk", flat=True)) == [user.pk]:
            raise LastOwnerError("The last owner cannot be erased: make another owner first.")
    was_active = user.is_active
    counts: dict[str, dict] = {}
    for entry in registered():
        if entry.erase is not None:
            counts[entry.name] = entry.erase(user) or {}
    user.email = erased_email(user)
    user.name = ""
    user.set_unusable_password()
    user.apply_role(Role.MEMBER)
    user.is_active = False
    user.last_login = None
    user.full_clean(exclude=["password"])
    user.save()
    # A deactivation revokes already; an account erased while inactive is revoked here.
    user_tokens_revoke(user=user, reason="user_erased")
    _record_erasure(user, counts)
    if was_active:  # the anonymised account, never the person's old e-mail or name
        user_event("user.deactivated", user)
    return user
