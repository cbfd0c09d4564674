"""Tenant creation: one PostgreSQL transaction from the slug to an active tenant.

A new tenant's schema is a spare renamed to the tenant's name (``pool``) or, when the
pool is empty, a clone of ``_template`` (``template``); migrations are never run again for
it. The whole creation is one PostgreSQL transaction, DDL included: if it fails or is
killed at any step, PostgreSQL rolls back the rows, the rename or clone, and the owner;
nothing reaches Redis before the commit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from atrium.conf import atrium_settings
from atrium.errors import AtriumError, InvalidInput

from . import errors
from .audit import platform_audit_record
from .celery import send_on_commit
from .context import public_scope, tenant_scope
from .models import Domain, Tenant, TenantStatus
from .naming import (
    domain_ensure_free,
    fresh_schema_name,
    tenant_url,
    validate_domain,
    validate_name,
    validate_slug,
)
from .plans import validate_plan
from .pool import spare_claim
from .template import schema_exists, template_clone, template_require

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProvisionedTenant:
    tenant: Tenant
    url: str
    owner_email: str
    owner_password: str | None  # the generated one-time password, None when given
    seconds: float
    schema_source: str  # "spare" or "clone"


# Sent by name (atrium.platform.tasks defines it, as beat knows it by name): a refill
# after each claim keeps the pool full.
POOL_REFILL_TASK = "tenants.pool_refill"


def _pool_refill_not_sent(exc: Exception) -> None:
    # The broker being away must not undo a committed tenant; beat refills later.
    logger.warning("provisioning: could not schedule a pool refill", exc_info=exc)


# ----------------------------------------------------------------------------- creation


def tenant_create(
    *,
    slug: str,
    name: str,
    owner_email: str,
    owner_password: str | None = None,
    owner_must_change: bool = False,
    plan: str | None = None,
    domain: str | None = None,
    owner_password_hash: str | None = None,
    audit_details: dict[str, Any] | None = None,
) -> ProvisionedTenant:
    """Create an active tenant and its owner. The owner's password is ``owner_password``
    (validated here), or ``owner_password_hash``, hashed and validated earlier (sign-up
    keeps only the hash), or else a generated one-time password. The platform audit's
    ``tenant.created`` names the current operator scope and adds ``audit_details``."""
    started = time.perf_counter()
    slug = validate_slug(slug)
    name = validate_name(name)
    # The user manager's canonical form (atrium.platform.accounts.emails), validated after
    # normalising: U+FF20 (full-width at) is an at sign only once normalised.
    owner_email = get_user_model().objects.normalize_email(owner_email)
    try:
        validate_email(owner_email)
    except ValidationError:
        raise InvalidInput(f"Invalid owner e-mail {owner_email!r}.") from None
    plan = validate_plan(plan or atrium_settings.DEFAULT_PLAN)
    default_host = f"{slug}.{atrium_settings.BASE_DOMAIN}"
    hosts = [default_host]
    if domain:
        custom = validate_domain(domain, slug=slug)
        if custom != default_host:
            hosts.insert(0, custom)  # a custom domain given at creation is the primary one

    if owner_password is not None:
        try:
            validate_password(owner_password)
        except ValidationError as exc:
            raise InvalidInput("Owner password refused: " + " ".join(exc.messages)) from None

    with public_scope():
        if Tenant.objects.filter(slug=slug).exists():
            raise errors.SlugTaken(f"The slug {slug!r} is taken.")
        for host in hosts:
            domain_ensure_free(host)
        try:
            with transaction.atomic():
                schema_name = fresh_schema_name(slug)
                tenant = Tenant(
                    slug=slug,
                    name=name,
                    schema_name=schema_name,
                    plan=plan,
                    status=TenantStatus.PROVISIONING,
                )
                try:
                    tenant.save()
                except ValidationError as exc:  # django-tenants' case-insensitive check
                    raise errors.SlugTaken(f"The slug {slug!r} is taken.") from exc
                for index, host in enumerate(hosts):
                    Domain(domain=host, tenant=tenant, is_primary=index == 0).save()
                source = _create_schema(schema_name)
                with tenant_scope(tenant):
                    one_time_password = _create_owner(
                        owner_email,
                        owner_password,
                        owner_password_hash,
                        must_change=owner_must_change,
                    )
                tenant.status = TenantStatus.ACTIVE
                tenant.save(update_fields=["status", "updated_at"])
                platform_audit_record(
                    "tenant.created",
                    tenant=tenant,
                    details={
                        "plan": plan,
                        "domains": hosts,
                        "schema_name": schema_name,
                        "schema_source": source,
                        **(audit_details or {}),
                    },
                )
                send_on_commit(POOL_REFILL_TASK, on_error=_pool_refill_not_sent)
        except IntegrityError as exc:
            raise _integrity_to_error(exc, slug, hosts) from exc

    return ProvisionedTenant(
        tenant=tenant,
        url=tenant_url(hosts[0]),
        owner_email=owner_email,
        owner_password=one_time_password,
        seconds=time.perf_counter() - started,
        schema_source=source,
    )


def _create_schema(schema_name: str) -> str:
    if schema_exists(schema_name):
        raise errors.SlugTaken(f"A schema named {schema_name!r} already exists.")
    if spare_claim(schema_name):
        return "spare"
    template_require()
    template_clone(schema_name)
    return "clone"


def _create_owner(
    email: str, password: str | None, password_hash: str | None, *, must_change: bool
) -> str | None:
    """The tenant's first owner, made by the user manager's one method for it (the user
    model is reached through Django: tenants/ does not import the layers above it).
    Returns the generated one-time password, or None when a password was given. A
    generated password (or a given one with ``must_change``) must be changed at first use."""
    created = get_user_model().objects.create_with_role(
        email,
        role="owner",
        password=password,
        password_hash=password_hash,
        must_change_password=must_change,
    )
    return created.one_time_password


def _integrity_to_error(exc: IntegrityError, slug: str, hosts: list[str]) -> AtriumError:
    text = str(exc)
    if "domain" in text:
        return errors.DomainTaken(f"One of the domains {', '.join(hosts)} is already in use.")
    return errors.SlugTaken(f"The slug {slug!r} is taken.")
