"""Whole-tenant export and import: one portable archive of a tenant's schema and files.

An archive is a tar file (gzip-compressed when its name ends in ``.tar.gz``/``.tgz``):

* ``data/schema.dump``: ``pg_dump -n <schema> -Fc`` of the tenant's schema;
* ``files/<path>``: every file of the tenant's storage folder, by its path in the folder;
* ``manifest.json`` (last, as it carries the checksums): the format, the Atrium version,
  the time of the export, the schema's migration state (its ``django_migrations`` rows),
  the tenant and domain rows, and the size and SHA-256 of every other member.

Export works while the tenant serves traffic. A REPEATABLE READ transaction exports its
snapshot (``pg_export_snapshot``), reads the tenant, domain and migration rows in it, and
``pg_dump --snapshot`` dumps the schema as of that same instant; pg_dump only takes ACCESS
SHARE locks (writes go on) and gives up after ``ATRIUM_EXPORT_LOCK_WAIT_SECONDS`` if a
migration holds a table. Files are copied after the dump: a file written during the export
may be missing, a file deleted during it is skipped.

Import restores an archive under a new slug and a new schema name, so a tenant is a new
identity (id, JWT signing key, Redis key space, storage folder), and is atomic: the dump
is loaded into a staging schema in one psql transaction, migrated forward when the archive
is older than the code, cleared of the source's secrets (``import_resets``), its files are
copied into the new tenant's folder, and only then one transaction creates the tenant and
domain rows and renames the staging schema to the tenant's. Any failure before that commit
drops the staging schema and deletes the copied files: nothing is left behind. An archive
whose schema has migrations this code does not know (a newer Atrium) is refused, and so is
one whose members do not match the manifest's checksums.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
from django.apps import apps
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader

from atrium.conf import atrium_settings

from . import errors
from .audit import platform_audit_record
from .context import public_scope, schema_scope
from .keyspace import storage_root_for_schema
from .migrator import migrate_schema, quote_ident, schemas_behind, tenant_app_labels
from .models import Domain, Tenant, TenantStatus
from .naming import (
    domain_ensure_free,
    fresh_schema_name,
    tenant_url,
    validate_domain,
    validate_slug,
)
from .plans import default_plan
from .services import tenant_get

logger = logging.getLogger(__name__)

FORMAT = "atrium-tenant-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "data/schema.dump"
FILES_PREFIX = "files/"
STAGING_PREFIX = "import_"
_CHUNK = 1024 * 1024
# Tenant fields an import never takes from the archive: the new tenant's own identity.
_IDENTITY_FIELDS = {"id", "slug", "schema_name", "status", "status_reason", "created_at"}


def atrium_version() -> str:
    with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["version"]


# ----------------------------------------------------------------------------- pg tools


def _pg_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", db.get("HOST")),
        ("PGPORT", db.get("PORT")),
        ("PGUSER", db.get("USER")),
        ("PGPASSWORD", db.get("PASSWORD")),
        ("PGDATABASE", db.get("NAME")),
    ):
        if value:
            env[key] = str(value)
    env.pop("PGOPTIONS", None)
    return env


def _tool_major(tool: str) -> int:
    path = shutil.which(tool)
    if path is None:
        raise errors.TransferFailed(
            f"{tool} is not installed: install the PostgreSQL client tools (postgresql-client)."
        )
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if not match:
        raise errors.TransferFailed(f"Cannot read the version of {tool}: {out.strip()!r}.")
    return int(match.group(1))


def server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def pg_tools_check(*tools: str) -> dict[str, int]:
    """Each tool's major version; refused when older than the server's (pg_dump cannot
    dump a newer server, and its archives are read by a pg_restore at least as new)."""
    server = server_major()
    found = {}
    for tool in tools:
        major = _tool_major(tool)
        if major < server:
            raise errors.TransferFailed(
                f"{tool} {major} is older than the PostgreSQL server ({server}): install the "
                f"client tools of version {server} or newer."
            )
        found[tool] = major
    return {"server": server, **found}


def _run(args: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=_pg_env(), capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise errors.TransferFailed(f"{what} failed: {result.stderr.strip()[-2000:]}")
    return result


# ----------------------------------------------------------------------------- checksums


class _HashingReader:
    """A file wrapper that hashes and counts what is read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _add_member(tar: tarfile.TarFile, name: str, raw: IO[bytes], size: int) -> dict[str, Any]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o644
    reader = _HashingReader(raw)
    tar.addfile(info, reader)
    return {"size": reader.size, "sha256": reader.digest.hexdigest()}


# ----------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportResult:
    path: Path
    slug: str
    schema_name: str
    archive_bytes: int
    files: int
    file_bytes: int
    migrations: int
    seconds: float
    manifest: dict = field(repr=False)


def default_output(slug: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"{slug}-{stamp}.tar.gz")


@contextmanager
def _snapshot() -> Iterator[tuple[psycopg.Connection, str]]:
    """A read-only REPEATABLE READ transaction on its own connection and its exported
    snapshot id, held open until the block ends (pg_dump attaches to it meanwhile)."""
    db = connection.settings_dict
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            yield conn, snapshot_id


def _state_in_snapshot(conn: psycopg.Connection, tenant: Tenant) -> dict[str, Any]:
    schema = tenant.schema_name
    tenant_row = conn.execute(
        f"SELECT row_to_json(t) FROM public.{quote_ident(Tenant._meta.db_table)} t WHERE id = %s",
        [tenant.pk],
    ).fetchone()
    if tenant_row is None:
        raise errors.TenantNotFound(f"Tenant {tenant.slug!r} was purged during the export.")
    domains = [
        row[0]
        for row in conn.execute(
            f"SELECT row_to_json(d) FROM public.{quote_ident(Domain._meta.db_table)} d "
            "WHERE tenant_id = %s ORDER BY is_primary DESC, domain",
            [tenant.pk],
        )
    ]
    migrations = [
        [app, name]
        for app, name in conn.execute(
            f"SELECT app, name FROM {quote_ident(schema)}.django_migrations ORDER BY app, name"
        )
    ]
    return {"tenant": tenant_row[0], "domains": domains, "migrations": migrations}


def storage_files(root: str) -> Iterator[str]:
    """Every file under ``root`` in the default storage, as paths relative to it."""
    try:
        folders, files = default_storage.listdir(root)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield name
    for folder in sorted(folders):
        for name in storage_files(f"{root}/{folder}"):
            yield f"{folder}/{name}"


def tenant_export(*, slug: str, output: str | os.PathLike | None = None) -> ExportResult:
    """Write one archive of tenant ``slug`` (see the module docstring) to ``output``."""
    started = time.perf_counter()
    tenant = tenant_get(slug)
    schema = tenant.schema_name
    path = Path(output) if output else default_output(slug)
    compressed = path.name.endswith((".tar.gz", ".tgz"))
    tools = pg_tools_check("pg_dump")
    partial = path.with_name(path.name + ".partial")
    workdir = Path(tempfile.mkdtemp(prefix="atrium-export-"))
    try:
        dump = workdir / "schema.dump"
        with _snapshot() as (conn, snapshot_id):
            state = _state_in_snapshot(conn, tenant)
            _run(
                [
                    "pg_dump",
                    f"--snapshot={snapshot_id}",
                    f"--schema={schema}",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--lock-wait-timeout={int(atrium_settings.EXPORT_LOCK_WAIT_SECONDS) * 1000}",
                    f"--file={dump}",
                ],
                "pg_dump",
            )
        members: dict[str, dict[str, Any]] = {}
        root = storage_root_for_schema(schema)
        file_bytes = 0
        mode = {"mode": "w:gz", "compresslevel": 6} if compressed else {"mode": "w"}
        with tarfile.open(partial, **mode) as tar:
            with open(dump, "rb") as handle:
                members[DUMP] = _add_member(tar, DUMP, handle, dump.stat().st_size)
            for relative in storage_files(root):
                name = f"{root}/{relative}"
                try:
                    size = default_storage.size(name)
                    handle = default_storage.open(name, "rb")
                except FileNotFoundError:
                    continue  # deleted since it was listed
                with handle:
                    entry = _add_member(tar, FILES_PREFIX + relative, handle, size)
                members[FILES_PREFIX + relative] = entry
                file_bytes += entry["size"]
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "atrium_version": atrium_version(),
                "exported_at": dt.datetime.now(dt.UTC).isoformat(),
                "postgres": {"server": tools["server"], "pg_dump": tools["pg_dump"]},
                "schema_name": schema,
                **state,
                "members": members,
            }
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
            tar.addfile(info, _BytesReader(body))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    platform_audit_record(
        "tenant.exported",
        tenant=tenant,
        details={
            "path": str(path.resolve()),
            "archive_bytes": path.stat().st_size,
            "files": len(members) - 1,
            "file_bytes": file_bytes,
            "migrations": len(manifest["migrations"]),
            "exported_at": manifest["exported_at"],
        },
    )
    result = ExportResult(
        path=path,
        slug=tenant.slug,
        schema_name=schema,
        archive_bytes=path.stat().st_size,
        files=len(members) - 1,
        file_bytes=file_bytes,
        migrations=len(manifest["migrations"]),
        seconds=time.perf_counter() - started,
        manifest=manifest,
    )
    logger.info(
        "tenants: exported %s (schema %s) to %s: %d files, %d bytes, %.1f s",
        slug,
        schema,
        path,
        result.files,
        result.archive_bytes,
        result.seconds,
    )
    return result


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk, self.pos = self.data[self.pos : end], min(end, len(self.data))
        return chunk


# ----------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportResult:
    tenant: Tenant
    url: str
    source_slug: str
    source_schema: str
    migrated: int  # migrations applied to bring the archive up to the code
    files: int
    seconds: float


def _safe_member_name(name: str) -> bool:
    if name in (MANIFEST, DUMP):
        return True
    if not name.startswith(FILES_PREFIX):
        return False
    parts = name[len(FILES_PREFIX) :].split("/")
    return all(part not in ("", ".", "..") and "\\" not in part for part in parts)


def _unpack(path: Path, into: Path) -> dict[str, Any]:
    """Extract the archive into ``into``, hashing every member; returns the manifest once
    every member matches it (and nothing else is there)."""
    seen: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or not _safe_member_name(name) or name in seen:
                    raise errors.ArchiveInvalid(
                        f"{path} is not a tenant archive: unexpected member {name!r}."
                    )
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                digest, size = hashlib.sha256(), 0
                with open(target, "wb") as out:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                seen[name] = {"size": size, "sha256": digest.hexdigest()}
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, errors.ArchiveInvalid):
            raise
        raise errors.ArchiveInvalid(f"{path} is not a readable tenant archive: {exc}") from exc
    if MANIFEST not in seen:
        raise errors.ArchiveInvalid(f"{path} is not a tenant archive: it has no {MANIFEST}.")
    try:
        manifest = json.loads((into / MANIFEST).read_text())
    except ValueError as exc:
        raise errors.ArchiveInvalid(f"{path}: its manifest is not JSON ({exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise errors.ArchiveInvalid(f"{path} is not a tenant archive (format {FORMAT!r}).")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise errors.ArchiveTooNew(
            f"{path} is archive format {manifest['format_version']}, newer than this Atrium "
            f"reads ({FORMAT_VERSION}): import it with Atrium {manifest.get('atrium_version')} "
            "or newer."
        )
    expected = manifest.get("members") or {}
    del seen[MANIFEST]
    if DUMP not in expected:
        raise errors.ArchiveInvalid(f"{path}: the manifest lists no {DUMP}.")
    for name in sorted(set(expected) | set(seen)):
        if name not in seen:
            raise errors.ArchiveInvalid(f"{path}: {name} is listed by the manifest but missing.")
        if name not in expected:
            raise errors.ArchiveInvalid(f"{path}: {name} is not listed by the manifest.")
        if seen[name] != {"size": expected[name]["size"], "sha256": expected[name]["sha256"]}:
            raise errors.ArchiveInvalid(
                f"{path}: {name} fails its checksum (the archive is damaged or was altered)."
            )
    return manifest


def migrations_ahead(manifest: dict[str, Any]) -> list[str]:
    """The archive schema's migrations that this code does not have (a newer Atrium)."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
    return [f"{app}.{name}" for app, name in manifest["migrations"] if (app, name) not in known]


def _rewrite_schema(old: str, new: str):
    """A line filter of pg_restore's SQL that moves every object from ``old`` to ``new``:
    pg_dump qualifies each name with its schema; COPY data lines are left alone."""
    qualified = re.compile(rf'(?<![\w$"])(?:{re.escape(old)}|"{re.escape(old)}")(?=\.)')
    create = re.compile(rf'^CREATE SCHEMA (?:{re.escape(old)}|"{re.escape(old)}");$')
    state = {"copy": False}

    def rewrite(line: str) -> str:
        if state["copy"]:
            if line.rstrip("\n") == "\\.":
                state["copy"] = False
            return line
        if create.match(line.rstrip("\n")):
            return f"CREATE SCHEMA {quote_ident(new)};\n"
        line = qualified.sub(quote_ident(new), line)
        if line.startswith("COPY ") and line.rstrip("\n").endswith("FROM stdin;"):
            state["copy"] = True
        return line

    return rewrite


def _restore(dump: Path, source_schema: str, staging: str, workdir: Path) -> None:
    """Load the dump into the (new) schema ``staging``, in one transaction."""
    script = workdir / "restore.sql"
    _run(
        ["pg_restore", "--no-owner", "--no-privileges", f"--file={script}", str(dump)],
        "pg_restore",
    )
    rewrite = _rewrite_schema(source_schema, staging)
    rewritten = workdir / "restore.staging.sql"
    with open(script, encoding="utf-8") as src, open(rewritten, "w", encoding="utf-8") as out:
        for line in src:
            out.write(rewrite(line))
    script.unlink()
    _run(
        [
            "psql",
            "-X",
            "--quiet",
            "--no-psqlrc",
            "--set=ON_ERROR_STOP=1",
            "--single-transaction",
            f"--file={rewritten}",
        ],
        "Loading the dump (psql)",
    )
    rewritten.unlink()


def import_resets() -> list[tuple[str, tuple[str, ...]]]:
    """What a restored schema must lose, by app label (apps installed for tenants only):
    ``ATRIUM_TENANT_IMPORT_RESETS`` (apps that are not Atrium's) and each app config's
    ``tenant_import_resets``."""
    labels = tenant_app_labels()
    resets = dict(atrium_settings.TENANT_IMPORT_RESETS)
    for config in apps.get_app_configs():
        declared = getattr(config, "tenant_import_resets", None)
        if declared:
            resets[config.label] = (*resets.get(config.label, ()), *declared)
    return [(label, tuple(statements)) for label, statements in resets.items() if label in labels]


def _reset_secrets(staging: str, *, old_root: str, new_root: str) -> list[str]:
    done = []
    params = {"old_root": old_root, "new_root": new_root}
    with schema_scope(staging), transaction.atomic(), connection.cursor() as cursor:
        # The one narrowing of the scope's search_path: without public on it, a reset naming
        # a table the staging schema lacks fails instead of changing the public table of
        # that name (django_session exists in both).
        connection.set_schema(staging, include_public=False)
        try:
            for label, statements in import_resets():
                for statement in statements:
                    cursor.execute(statement, params if "%(" in statement else None)
                done.append(label)
        finally:
            connection.set_schema(staging)
    return done


def _drop_schema(name: str) -> None:
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")


def _tenant_from(manifest: dict[str, Any], *, slug: str, schema_name: str) -> Tenant:
    row = manifest.get("tenant") or {}
    tenant = Tenant(slug=slug, schema_name=schema_name, status=TenantStatus.ACTIVE)
    for model_field in Tenant._meta.concrete_fields:
        name = model_field.attname
        if name in row and name not in _IDENTITY_FIELDS and name != "updated_at":
            setattr(tenant, name, model_field.to_python(row[name]))
    if tenant.plan not in atrium_settings.PLANS:
        tenant.plan = default_plan()
    tenant.name = tenant.name or slug
    return tenant


def tenant_import(*, path: str | os.PathLike, slug: str, domain: str | None = None) -> ImportResult:
    """Restore the archive at ``path`` as a new tenant ``slug`` (see the module docstring)."""
    started = time.perf_counter()
    path = Path(path)
    slug = validate_slug(slug)
    default_host = f"{slug}.{atrium_settings.BASE_DOMAIN}"
    hosts = [default_host]
    if domain:
        custom = validate_domain(domain, slug=slug)
        if custom != default_host:
            hosts.insert(0, custom)
    with public_scope():
        if Tenant.objects.filter(slug=slug).exists():
            raise errors.SlugTaken(
                f"The slug {slug!r} is taken: import under another --slug, or purge that tenant "
                "first."
            )
        for host in hosts:
            domain_ensure_free(host)
    if not path.is_file():
        raise errors.ArchiveInvalid(f"No archive at {path}.")
    pg_tools_check("pg_restore", "psql")
    workdir = Path(tempfile.mkdtemp(prefix="atrium-import-"))
    staging = STAGING_PREFIX + secrets.token_hex(8)
    copied: list[str] = []
    new_root = None
    try:
        manifest = _unpack(path, workdir)
        ahead = migrations_ahead(manifest)
        if ahead:
            raise errors.ArchiveTooNew(
                f"{path} was exported by a newer Atrium ({manifest.get('atrium_version')}): its "
                f"schema has migrations this code does not know ({', '.join(ahead[:5])}"
                f"{', …' if len(ahead) > 5 else ''}). Upgrade Atrium first; nothing was imported."
            )
        source_schema = manifest["schema_name"]
        _restore(workdir / DUMP, source_schema, staging, workdir)
        migrated = 0
        if schemas_behind([staging]):
            before = len(manifest["migrations"])
            migrate_schema(staging)
            with public_scope(), connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {quote_ident(staging)}.django_migrations")
                migrated = cursor.fetchone()[0] - before
        with public_scope():
            schema_name = fresh_schema_name(slug)
        old_root = storage_root_for_schema(source_schema)
        new_root = storage_root_for_schema(schema_name)
        files_dir = workdir / FILES_PREFIX.rstrip("/")
        for name in sorted(manifest["members"]):
            if not name.startswith(FILES_PREFIX):
                continue
            relative = name[len(FILES_PREFIX) :]
            with open(files_dir / relative, "rb") as handle:
                copied.append(default_storage.save(f"{new_root}/{relative}", File(handle)))
        _reset_secrets(staging, old_root=old_root, new_root=new_root)
        with public_scope():
            try:
                with transaction.atomic():
                    tenant = _tenant_from(manifest, slug=slug, schema_name=schema_name)
                    tenant.save()
                    for index, host in enumerate(hosts):
                        Domain(domain=host, tenant=tenant, is_primary=index == 0).save()
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"ALTER SCHEMA {quote_ident(staging)} "
                            f"RENAME TO {quote_ident(schema_name)}"
                        )
                    platform_audit_record(
                        "tenant.imported",
                        tenant=tenant,
                        details={
                            "archive": str(path.resolve()),
                            "source_slug": (manifest.get("tenant") or {}).get("slug", ""),
                            "source_schema": source_schema,
                            "atrium_version": manifest.get("atrium_version"),
                            "exported_at": manifest.get("exported_at"),
                            "migrations_applied": migrated,
                            "files": len(copied),
                        },
                    )
            except IntegrityError as exc:
                if "domain" in str(exc):
                    raise errors.DomainTaken(
                        f"One of the domains {', '.join(hosts)} was taken during the import."
                    ) from exc
                raise errors.SlugTaken(f"The slug {slug!r} was taken during the import.") from exc
    except BaseException:
        _undo(staging, copied, new_root)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = ImportResult(
        tenant=tenant,
        url=tenant_url(hosts[0]),
        source_slug=(manifest.get("tenant") or {}).get("slug", ""),
        source_schema=source_schema,
        migrated=migrated,
        files=len(copied),
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "tenants: imported %s as %s (schema %s): %d files, %d migrations applied, %.1f s",
        path,
        slug,
        schema_name,
        result.files,
        migrated,
        result.seconds,
    )
    return result


def _undo(staging: str, copied: list[str], new_root: str | None) -> None:
    """Remove what a failed import made: the staging schema and the copied files."""
    try:
        _drop_schema(staging)
    except Exception:
        logger.exception("tenants: import: could not drop the staging schema %s", staging)
    for name in copied:
        try:
            default_storage.delete(name)
        except Exception:
            logger.exception("tenants: import: could not delete %s", name)
    if new_root:
        try:
            _delete_empty_tree(new_root)
        except Exception:
            logger.exception("tenants: import: could not delete the folder %s", new_root)


def _delete_empty_tree(folder: str) -> None:
    try:
        folders, _ = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in folders:
        _delete_empty_tree(f"{folder}/{name}")
    default_storage.delete(folder)


__all__ = [
    "ExportResult",
    "ImportResult",
    "import_resets",
    "migrations_ahead",
    "pg_tools_check",
    "storage_files",
    "tenant_export",
    "tenant_import",
]
