"""The host directory: ``Host`` → tenant, with no SQL per request once warm.

The directory of hosts is cached at two levels: a dict in this process, and a Redis hash
shared by every process. A version counter in Redis says when either is stale: any change
to a Tenant or Domain bumps it (after commit), and each request compares it with the
version its local copy was built at, so a suspension takes effect in every process on the
next request. Entries are only stored if the version did not move while they were read
from the database, so a lookup racing a change cannot put stale data back.

Redis away when a change commits: the bump is missed. The process keeps it and applies it
as soon as Redis answers again (``MissedBumps``, shared with the response cache). A
process that dies first (a ``tenants suspend`` run during the outage) takes the bump
along, and the others' copies, which the version no longer invalidates, would be served
for good. So no copy is trusted longer than ``ATRIUM_ROUTING_MAX_AGE`` seconds (30 by
default) after it was read from the database, whatever happens to the bumps: the shared
hash expires that long after its first entry (by Redis' own clock, so no two machines'
clocks are compared), a process keeps an entry read from the hash only until the hash
expires, and one read from the database for that long. A change therefore reaches every
process within ``ATRIUM_ROUTING_MAX_AGE`` seconds in the worst case (plus the time of one
lookup that read the database before the change and stored its answer after), and on the
next request
(a Celery worker: within ``ATRIUM_TASK_TENANT_RECHECK_SECONDS``) whenever its bump is taken.
Once per max age, each process reads each host it serves again (one ``HGET``, and the
first process after the hash expired one SQL query per host): nothing on the hot path.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields

import redis
from django_redis import get_redis_connection

from atrium.conf import atrium_settings

from .bumps import MissedBumps
from .context import public_scope
from .keyspace import public_key
from .models import Domain, Tenant

logger = logging.getLogger(__name__)

VERSION_KEY = public_key("routing", "version")
HOSTS_KEY = public_key("routing", "hosts")

# Store a host's entry only if the directory version is still the one read before the
# database lookup; otherwise a concurrent change happened and the entry may be stale. The
# hash expires ARGV[4] ms after its first entry, so no entry is older than the max age.
_STORE_IF_CURRENT = """
local current = redis.call('GET', KEYS[1]) or '0'
if current == ARGV[1] then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  if redis.call('PTTL', KEYS[2]) < 0 then
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
  return 1
end
return 0
"""

_MISSING = "-"  # a host known not to exist (cached in this process only)
_TENANT_FIELDS = (
    "id",
    "slug",
    "name",
    "schema_name",
    "status",
    "plan",
    "cors_origins",
    "require_mfa_for_admins",
)


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """The fields of a tenant that routing needs, cheap to cache and to copy."""

    id: str
    slug: str
    name: str
    schema_name: str
    status: str
    plan: str
    # Browser origins allowed to call the API (atrium.tenants.cors); an entry stored by
    # an older version has none.
    cors_origins: tuple[str, ...] = ()
    # Owners and admins must enrol in MFA first (atrium.platform.mfa); False in an older
    # entry.
    require_mfa_for_admins: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins or ()))

    def to_tenant(self) -> Tenant:
        """A fresh, unshared Tenant instance per request (as if loaded from the DB)."""
        tenant = Tenant(
            id=self.id,
            slug=self.slug,
            name=self.name,
            schema_name=self.schema_name,
            status=self.status,
            plan=self.plan,
            cors_origins=list(self.cors_origins),
            require_mfa_for_admins=self.require_mfa_for_admins,
        )
        tenant._state.adding = False
        tenant._state.db = "default"
        return tenant


_RECORD_FIELDS = tuple(field.name for field in fields(TenantRecord))


def redis_client() -> redis.Redis:
    return get_redis_connection("default")


def _bump_version(client: redis.Redis, key: str) -> None:
    """Invalidate the directory: a new version, and no shared entry of the old ones."""
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    pipe.delete(HOSTS_KEY)
    pipe.execute()


missed_bumps = MissedBumps("routing", _bump_version)

# A local entry: the record (or _MISSING) and the time.monotonic() after which it is read
# again.
_Entry = tuple["TenantRecord | str", float]


def _max_age() -> float:
    return atrium_settings.ROUTING_MAX_AGE


class HostDirectory:
    """Host → TenantRecord, cached in this process and in Redis, invalidated by version
    and, whatever happens to the version, by age (see the module docstring).

    It also answers schema → TenantRecord for the Celery worker (a message names its
    schema, not a host), from a per-process copy under the same version and age.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._schemas: OrderedDict[str, _Entry] = OrderedDict()
        self._version: str | None = None
        self._checked_at = 0.0

    def clear_local(self) -> None:
        with self._lock:
            self._entries.clear()
            self._schemas.clear()
            self._version = None

    def _shared_version(self) -> str | None:
        """The directory version in Redis, or None when Redis cannot be asked; a bump this
        process missed is applied first."""
        if missed_bumps.pending and not missed_bumps.replay():
            return None
        try:
            return (redis_client().get(VERSION_KEY) or b"0").decode()
        except redis.RedisError:
            return None

    def _sync_version(self, max_age: float = 0.0) -> str | None:
        """The directory version, read from Redis unless it was read less than ``max_age``
        seconds ago; the local copy is dropped when it moved."""
        now = time.monotonic()
        if max_age and self._version is not None and now - self._checked_at < max_age:
            return self._version
        version = self._shared_version()
        with self._lock:
            if version is None:
                # Redis is away: trust the local copy for a short while, then re-read the DB.
                if now - self._checked_at > atrium_settings.ROUTING_FALLBACK_TTL:
                    self._entries.clear()
                    self._schemas.clear()
                    self._checked_at = now
                return None
            if version != self._version:
                self._entries.clear()
                self._schemas.clear()
                self._version = version
            self._checked_at = now
        return version

    def local_record(self, host: str) -> tuple[TenantRecord, str] | None:
        """The record of ``host`` in this process's copy and the directory version the copy
        is at, if there is one (within its max age) and no missed bump is pending: what
        routing asks Redis to confirm (``confirm``) in the request's one ``MGET``."""
        if missed_bumps.pending:
            return None
        version = self._version
        found, record = self._local_lookup(self._entries, host)
        # Read on both sides of the entry: a copy rebuilt meanwhile is not confirmed.
        if not found or record is None or version is None or version != self._version:
            return None
        return record, version

    def confirm(self, shared_version: bytes | None, local_version: str) -> bool:
        """Whether ``shared_version`` (the directory version just read from Redis) is
        still ``local_version``, the one ``local_record`` answered at; when it moved, the
        local copy is dropped (as ``lookup`` would) and the caller looks up again."""
        version = (shared_version or b"0").decode()
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._schemas.clear()
                self._version = version
            self._checked_at = time.monotonic()
        return version == local_version

    def lookup(self, host: str) -> TenantRecord | None:
        version = self._sync_version()
        found, record = self._local_lookup(self._entries, host)
        if found:
            return record
        record, expires = self._shared_lookup(host) if version is not None else (None, 0.0)
        if record is None:
            expires = time.monotonic() + _max_age()  # from before the read: conservative
            record = self._database_lookup(host)
            if record is not None and version is not None:
                self._shared_store(host, record, version)
        self._local_store(self._entries, host, record, version, expires)
        return record

    def schema_lookup(self, schema_name: str) -> TenantRecord | None:
        """The tenant that owns ``schema_name`` (any status), or None.

        For the Celery worker: a change is seen within ATRIUM_TASK_TENANT_RECHECK_SECONDS
        (a Redis round trip per task was a quarter of a no-op task's cost). A task that
        starts in that window for a tenant purged just before fails on its missing schema;
        it never runs in another tenant's or the public schema."""
        version = self._sync_version(atrium_settings.TASK_TENANT_RECHECK_SECONDS)
        found, record = self._local_lookup(self._schemas, schema_name)
        if found:
            return record
        expires = time.monotonic() + _max_age()
        with public_scope():
            row = Tenant.objects.filter(schema_name=schema_name).values(*_TENANT_FIELDS).first()
        record = TenantRecord(**{**row, "id": str(row["id"])}) if row else None
        self._local_store(self._schemas, schema_name, record, version, expires)
        return record

    def _local_lookup(
        self, entries: OrderedDict[str, _Entry], key: str
    ) -> tuple[bool, TenantRecord | None]:
        """(found, record) from this process's copy; a known miss is found with None, an
        entry past its max age is not found."""
        with self._lock:
            entry = entries.get(key)
            if entry is None:
                return False, None
            value, expires = entry
            if time.monotonic() >= expires:
                del entries[key]
                return False, None
            entries.move_to_end(key)
            return True, None if value == _MISSING else value

    def _local_store(
        self,
        entries: OrderedDict[str, _Entry],
        key: str,
        record: TenantRecord | None,
        version: str | None,
        expires: float,
    ) -> None:
        with self._lock:
            if version is not None and version != self._version:
                return
            entries[key] = (record if record is not None else _MISSING, expires)
            entries.move_to_end(key)
            while len(entries) > atrium_settings.ROUTING_LOCAL_MAX_HOSTS:
                entries.popitem(last=False)

    def _shared_lookup(self, host: str) -> tuple[TenantRecord | None, float]:
        """The shared entry of ``host`` and the time.monotonic() until which it may be
        trusted (when the hash expires); (None, 0) when there is none to trust."""
        try:
            pipe = redis_client().pipeline(transaction=True)
            pipe.hget(HOSTS_KEY, host)
            pipe.pttl(HOSTS_KEY)
            raw, ttl_ms = pipe.execute()
        except redis.RedisError:
            return None, 0.0
        # No expiry (-1): written by a version that set none, so its age is unknown.
        if not raw or ttl_ms <= 0:
            return None, 0.0
        return record_from_json(raw), time.monotonic() + min(ttl_ms / 1000, _max_age())

    def _shared_store(self, host: str, record: TenantRecord, version: str) -> None:
        try:
            redis_client().eval(
                _STORE_IF_CURRENT,
                2,
                VERSION_KEY,
                HOSTS_KEY,
                version,
                host,
                json.dumps(asdict(record)),
                max(1, int(_max_age() * 1000)),
            )
        except redis.RedisError:
            logger.warning("routing: could not store %s in the shared directory", host)

    @staticmethod
    def _database_lookup(host: str) -> TenantRecord | None:
        with public_scope():
            row = (
                Domain.objects.filter(domain__iexact=host)
                .values(
                    "tenant_id",
                    "tenant__slug",
                    "tenant__name",
                    "tenant__schema_name",
                    "tenant__status",
                    "tenant__plan",
                    "tenant__cors_origins",
                    "tenant__require_mfa_for_admins",
                )
                .first()
            )
        if row is None:
            return None
        return TenantRecord(
            id=str(row["tenant_id"]),
            slug=row["tenant__slug"],
            name=row["tenant__name"],
            schema_name=row["tenant__schema_name"],
            status=row["tenant__status"],
            plan=row["tenant__plan"],
            cors_origins=row["tenant__cors_origins"],
            require_mfa_for_admins=row["tenant__require_mfa_for_admins"],
        )


def record_from_json(raw: bytes | str) -> TenantRecord:
    """A shared entry as a record. Only the fields this version knows: an entry written by
    a newer version (during a rolling deploy) may carry more."""
    data = json.loads(raw)
    return TenantRecord(**{name: data[name] for name in _RECORD_FIELDS if name in data})


directory = HostDirectory()


def directory_forget_schema(schema_name: str) -> int:
    """Delete the shared directory's entries of one tenant's hosts (its purge); returns how
    many. Every process re-reads after the version bump anyway: this removes the data."""
    client = redis_client()
    stale = [
        host
        for host, raw in client.hscan_iter(HOSTS_KEY, count=1000)
        if json.loads(raw).get("schema_name") == schema_name
    ]
    return client.hdel(HOSTS_KEY, *stale) if stale else 0


def invalidate_directory() -> None:
    """Make every process re-read the host directory (call after the change commits)."""
    directory.clear_local()
    try:
        _bump_version(redis_client(), VERSION_KEY)
    except redis.RedisError:
        missed_bumps.keep(VERSION_KEY)
        logger.warning(
            "routing: Redis unavailable, the directory version bump is kept until it answers;"
            " other processes see the change within ATRIUM_ROUTING_MAX_AGE (%s s)",
            _max_age(),
        )
    else:
        missed_bumps.replay()  # one kept from an outage: the bump just made covers it
