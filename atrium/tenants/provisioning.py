"""Tenant creation from a migrated template, and the pool of pre-built spare schemas.

A new tenant's schema is a spare renamed to the tenant's name (a catalog update taking
milliseconds) or, when the pool is empty, a clone of ``_template``; migrations are never
run again for it. The whole creation is one PostgreSQL transaction, DDL included: if it
fails or is killed at any step, PostgreSQL rolls back the rows, the rename or clone, and
the owner; nothing reaches Redis before the commit.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction

from . import errors
from .celery import send_on_commit
from .context import public_scope, tenant_scope
from .migrator import migrate_schema, quote_ident, schemas_behind
from .models import Domain, RetiredSchemaName, Tenant, TenantStatus
from .plans import validate_plan
from .routing import is_ip_literal, is_public_host, normalize_host

logger = logging.getLogger(__name__)

# Matched with fullmatch: '$' would also match before a trailing newline ("acme\n").
SLUG_PATTERN = re.compile(r"[a-z][a-z0-9-]{1,62}")
RESERVED_SLUGS = frozenset(
    {
        "public",
        "www",
        "admin",
        "api",
        "app",
        "apps",
        "static",
        "media",
        "assets",
        "mail",
        "smtp",
        "ftp",
        "ns",
        "ns1",
        "ns2",
        "dns",
        "status",
        "health",
        "help",
        "support",
        "docs",
        "blog",
        "billing",
        "auth",
        "login",
        "signup",
        "account",
        "accounts",
        "platform",
        "atrium",
        "root",
        "system",
        "internal",
        "template",
        "information-schema",
        "default",
        "test",
        "localhost",
    }
)
RESERVED_PREFIXES = ("pg-", "pg_")
GENERATED_SECRET_HASHER = "generated_sha256"


@dataclass(frozen=True)
class ProvisionedTenant:
    tenant: Tenant
    url: str
    owner_email: str
    owner_password: str | None  # the generated one-time password, None when given
    seconds: float
    schema_source: str  # "spare" or "clone"


def schema_name_for(slug: str) -> str:
    """The schema name a slug asks for; ``tenants create`` takes another one when this one is
    in use or was ever used (``fresh_schema_name``)."""
    return slug.replace("-", "_")


# The length of the random part of a schema name taken instead of a used one.
_SCHEMA_SUFFIX_BYTES = 4


def fresh_schema_name(slug: str) -> str:
    """A schema name for a new tenant that no tenant, live or purged, has ever had.

    A tenant's schema name is its identity beyond PostgreSQL (Redis key space, channel
    groups, storage folder, Celery messages), so it is never reused: a slug's first tenant
    gets ``schema_name_for(slug)``, a later one ``<that>_<8 random hex>``. Checked inside
    the creation's transaction; purges record the names they free (``RetiredSchemaName``).
    """
    base = schema_name_for(slug)
    name = base
    while _schema_name_used(name):
        suffix = secrets.token_hex(_SCHEMA_SUFFIX_BYTES)
        name = f"{base[: 62 - len(suffix)]}_{suffix}"
    return name


def _schema_name_used(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {Tenant._meta.db_table} WHERE schema_name = %s) "
            f"OR EXISTS (SELECT 1 FROM {RetiredSchemaName._meta.db_table} WHERE name = %s) "
            "OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)",
            [name, name, name],
        )
        return cursor.fetchone()[0]


def tenant_url(host: str) -> str:
    port = f":{settings.ATRIUM_SITE_PORT}" if settings.ATRIUM_SITE_PORT else ""
    return f"{settings.ATRIUM_SITE_SCHEME}://{host}{port}/"


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug) or slug.endswith("-"):
        raise errors.SlugInvalid(
            f"Invalid slug {slug!r}: use 2-63 characters of a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'."
        )
    if slug in RESERVED_SLUGS or slug.startswith(RESERVED_PREFIXES):
        raise errors.SlugReserved(f"The slug {slug!r} is reserved; choose another.")
    return slug


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise errors.InvalidInput("A tenant needs a name of 1-200 characters (--name).")
    return name


def validate_domain(raw: str, *, slug: str) -> str:
    if is_ip_literal(raw or ""):
        raise errors.DomainInvalid(
            f"Invalid domain {raw!r}: an IP address never routes to a tenant; give a host "
            "name like shop.example.com."
        )
    host = normalize_host(raw or "")
    if host is None or ":" in (raw or "") or "." not in host:
        raise errors.DomainInvalid(
            f"Invalid domain {raw!r}: give a host name like shop.example.com."
        )
    if is_public_host(host):
        raise errors.DomainInvalid(f"The domain {host!r} serves the platform itself.")
    base = settings.ATRIUM_BASE_DOMAIN
    if host.endswith("." + base) and host != f"{slug}.{base}":
        raise errors.DomainInvalid(
            f"Subdomains of {base} belong to the tenant of that name; {slug!r} may only use "
            f"{slug}.{base} there."
        )
    return host


def domain_ensure_free(host: str) -> None:
    """Refuse a host another tenant (or this one) already has, naming who holds it.

    Only operators see this message (CLI, platform admin): the holder's slug is no secret
    to them and tells them where to look next.
    """
    with public_scope():
        holder = (
            Domain.objects.filter(domain__iexact=host)
            .values_list("tenant__slug", flat=True)
            .first()
        )
    if holder is not None:
        raise errors.DomainTaken(f"The domain {host!r} is already in use by tenant {holder!r}.")


# ----------------------------------------------------------------------------- template


def template_exists() -> bool:
    return _schema_exists(settings.ATRIUM_TEMPLATE_SCHEMA)


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def template_ensure() -> bool:
    """Create the template schema if it is missing; returns True when it was created."""
    with public_scope():
        if template_exists():
            return False
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {quote_ident(settings.ATRIUM_TEMPLATE_SCHEMA)}")
    migrate_schema(settings.ATRIUM_TEMPLATE_SCHEMA)
    return True


def _template_ready() -> None:
    if not template_exists():
        raise errors.TemplateNotReady(
            "The template schema is missing: run `python manage.py tenants migrate` first."
        )
    if schemas_behind([settings.ATRIUM_TEMPLATE_SCHEMA]):
        raise errors.TemplateNotReady(
            "The template schema is behind the code's migrations: run "
            "`python manage.py tenants migrate` first."
        )


@dataclass(frozen=True)
class _ClonePlan:
    """What a clone of the template copies, read from the catalog once per template state."""

    tables: tuple[str, ...]
    identity_columns: tuple[tuple[str, str], ...]
    foreign_keys: tuple[tuple[str, str, str], ...]  # (table, constraint, definition)


_clone_plans: dict[tuple, _ClonePlan] = {}


def _template_state(cursor) -> tuple:
    """Changes whenever the template is re-created or migrated: the plan cache's key."""
    source = quote_ident(settings.ATRIUM_TEMPLATE_SCHEMA)
    cursor.execute(
        f"SELECT %s::regnamespace::oid, count(*), max(id) FROM {source}.django_migrations",
        [settings.ATRIUM_TEMPLATE_SCHEMA],
    )
    return cursor.fetchone()


def _clone_plan(cursor) -> _ClonePlan:
    """The template's tables, identity columns and foreign keys (cached per template state).

    PostgreSQL has no index on a relation's namespace alone, so each of these catalog
    queries scans all of pg_class, which grows by ~110 rows per tenant schema: at 10,000
    tenants one scan takes a quarter of a second. Read once per process and template state,
    a clone's cost no longer depends on how many tenants exist.
    """
    key = _template_state(cursor)
    plan = _clone_plans.get(key)
    if plan is not None:
        return plan
    source = settings.ATRIUM_TEMPLATE_SCHEMA
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace "
        "AND relkind = 'r' ORDER BY relname",
        [source],
    )
    tables = tuple(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' AND a.attidentity <> '' "
        "ORDER BY 1, 2",
        [source],
    )
    identity_columns = tuple((table, column) for table, column in cursor.fetchall())
    cursor.execute(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid "
        "WHERE k.connamespace = %s::regnamespace AND k.contype = 'f' ORDER BY 1, 2",
        [source],
    )
    foreign_keys = tuple((table, name, definition) for table, name, definition in cursor.fetchall())
    plan = _ClonePlan(tables, identity_columns, foreign_keys)
    _clone_plans.clear()  # only the current template state is worth keeping
    _clone_plans[key] = plan
    return plan


def _clone_template(target: str) -> None:
    """Copy ``_template`` into a new schema: tables, indexes, constraints, rows, sequences.

    What to copy comes from the template's own catalog entries (``_clone_plan``), so the
    cost depends on the template alone, not on how many tenant schemas exist
    (django-tenants' ``clone_schema()`` scans every schema's columns and slows down as
    tenants are added). The template's rows are its migration records, content types and
    permissions, which every tenant schema needs as they are.
    """
    source, quoted_target = settings.ATRIUM_TEMPLATE_SCHEMA, quote_ident(target)
    with connection.cursor() as cursor:
        plan = _clone_plan(cursor)
        cursor.execute(f"CREATE SCHEMA {quoted_target}")
        for table in plan.tables:
            cursor.execute(
                f"CREATE TABLE {quoted_target}.{quote_ident(table)} "
                f"(LIKE {quote_ident(source)}.{quote_ident(table)} INCLUDING ALL)"
            )
            cursor.execute(
                f"INSERT INTO {quoted_target}.{quote_ident(table)} "
                f"SELECT * FROM {quote_ident(source)}.{quote_ident(table)}"
            )
        # Identity columns got fresh sequences: move them past the copied rows.
        for table, column in plan.identity_columns:
            qualified = f"{quoted_target}.{quote_ident(table)}"
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                f"COALESCE((SELECT max({quote_ident(column)}) FROM {qualified}), 0) + 1, false)",
                [qualified, column],
            )
        # Foreign keys last (LIKE does not copy them), pointing into the new schema.
        for table, name, definition in plan.foreign_keys:
            definition = definition.replace(
                f"REFERENCES {source}.", f"REFERENCES {quoted_target}."
            ).replace(f"REFERENCES {quote_ident(source)}.", f"REFERENCES {quoted_target}.")
            if f"REFERENCES {quoted_target}." not in definition:
                raise RuntimeError(f"Unexpected foreign key outside the template: {definition}")
            cursor.execute(
                f"ALTER TABLE {quoted_target}.{quote_ident(table)} "
                f"ADD CONSTRAINT {quote_ident(name)} {definition}"
            )


# ----------------------------------------------------------------------------- spare pool


def spare_schemas() -> list[str]:
    prefix = settings.ATRIUM_SPARE_SCHEMA_PREFIX
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY nspname",
            [prefix],
        )
        return [row[0] for row in cursor.fetchall()]


def pool_status() -> dict:
    with public_scope():
        spares = spare_schemas()
        stale = schemas_behind(spares) if spares else []
        return {
            "spares": len(spares),
            "stale": len(stale),
            "target": settings.ATRIUM_SPARE_POOL_SIZE,
            "template": template_exists(),
            "schemas": spares,
        }


def pool_fill(target: int | None = None) -> int:
    """Clone spares from the template until the pool holds ``target``; returns how many."""
    target = settings.ATRIUM_SPARE_POOL_SIZE if target is None else target
    created = 0
    with public_scope():
        _template_ready()
        while True:
            # One filler at a time, across processes, so the pool never overshoots.
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('atrium:pool_fill'))")
                if len(spare_schemas()) >= target:
                    return created
                _clone_template(settings.ATRIUM_SPARE_SCHEMA_PREFIX + uuid.uuid4().hex[:16])
            created += 1


def _claim_spare(target: str) -> bool:
    """Rename an up-to-date spare to ``target`` inside the current transaction."""
    for spare in spare_schemas():
        with connection.cursor() as cursor:
            # Another creation may be claiming the same spare: skip it rather than wait.
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [spare])
            if not cursor.fetchone()[0]:
                continue
        if not _schema_exists(spare) or schemas_behind([spare]):
            continue  # claimed meanwhile, or left behind by a migration run
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER SCHEMA {quote_ident(spare)} RENAME TO {quote_ident(target)}")
        return True
    return False


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
    plan: str | None = None,
    domain: str | None = None,
) -> ProvisionedTenant:
    started = time.perf_counter()
    slug = validate_slug(slug)
    name = validate_name(name)
    # The user manager's canonical form (atrium.platform.accounts.emails), validated after
    # normalising: U+FF20 (full-width at) is an at sign only once normalised.
    owner_email = get_user_model().objects.normalize_email(owner_email)
    try:
        validate_email(owner_email)
    except ValidationError:
        raise errors.InvalidInput(f"Invalid owner e-mail {owner_email!r}.") from None
    plan = validate_plan(plan or settings.ATRIUM_DEFAULT_PLAN)
    default_host = f"{slug}.{settings.ATRIUM_BASE_DOMAIN}"
    hosts = [default_host]
    if domain:
        custom = validate_domain(domain, slug=slug)
        if custom != default_host:
            hosts.insert(0, custom)  # a custom domain given at creation is the primary one

    generated = owner_password is None
    if generated:
        # 192 random bits: a fast salted hash protects it as well as a slow one would
        # (see GeneratedSecretHasher), and keeps creation in milliseconds.
        password = secrets.token_urlsafe(24)
        encoded_password = make_password(password, hasher=GENERATED_SECRET_HASHER)
    else:
        password = owner_password
        try:
            validate_password(password)
        except ValidationError as exc:
            raise errors.InvalidInput("Owner password refused: " + " ".join(exc.messages)) from None
        encoded_password = make_password(password)

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
                    _create_owner(owner_email, encoded_password)
                tenant.status = TenantStatus.ACTIVE
                tenant.save(update_fields=["status", "updated_at"])
                send_on_commit(POOL_REFILL_TASK, on_error=_pool_refill_not_sent)
        except IntegrityError as exc:
            raise _integrity_to_error(exc, slug, hosts) from exc

    return ProvisionedTenant(
        tenant=tenant,
        url=tenant_url(hosts[0]),
        owner_email=owner_email,
        owner_password=password if generated else None,
        seconds=time.perf_counter() - started,
        schema_source=source,
    )


def _create_schema(schema_name: str) -> str:
    if _schema_exists(schema_name):
        raise errors.SlugTaken(f"A schema named {schema_name!r} already exists.")
    if _claim_spare(schema_name):
        return "spare"
    _template_ready()
    _clone_template(schema_name)
    return "clone"


def _create_owner(email: str, encoded_password: str) -> None:
    user_model = get_user_model()
    owner = user_model(
        email=user_model.objects.normalize_email(email),
        password=encoded_password,
        role="owner",
        is_staff=True,
        is_superuser=True,
    )
    owner.save()


def _integrity_to_error(exc: IntegrityError, slug: str, hosts: list[str]) -> errors.TenantError:
    text = str(exc)
    if "domain" in text:
        return errors.DomainTaken(f"One of the domains {', '.join(hosts)} is already in use.")
    return errors.SlugTaken(f"The slug {slug!r} is taken.")
