"""The user a token speaks for, from Redis: one entry per user that every change invalidates.

Authenticating a request (or a socket) needs the token's user: whether it is active, its
token version, its role and one-time-password flag, and the sessions it revoked lately (an
access token of a revoked session is refused at once, ``tokens.token_user``). Read from the
database that is a query per request; here it is an entry in the tenant's key space,
``t:<schema>:auth:user:<id>``, read in the request's one ``MGET`` (``readahead.py``).

Invalidation is a generation per user, ``t:<schema>:auth:gen:<id>``, raised with (and
again after the commit of) every change of what an entry holds: any save or deletion of the user, a revocation of
its tokens (logout, deactivation, role or password change, erasure: ``user_tokens_revoke``
raises the version with an UPDATE), a revoked session. An entry records the generation it
was read at and is trusted only while that is still the generation, so a lookup that read
the database before a change and stores its entry after is never believed. The password
hash is never stored: a cached user has it deferred (read from the database if asked for).

Failure modes, as for the other versioned caches (``atrium.tenants.bumps``):

* Redis away at a request: the user is read from the database, one query, as before this
  cache (the token checks are the same; only their source changes);
* Redis away when a change commits: the process keeps the missed bump, reads users from
  the database until Redis takes it, then applies it. A bump lost with its process (it died
  before Redis came back, with its data) leaves other processes trusting the old entries
  for at most ``ATRIUM_AUTH_CACHE_TTL`` seconds (30 by default), the entries' lifetime;
* between a change's commit and its bump (one Redis round trip), a request may still see
  the entry of before.

Writes that bypass ``save()`` and the ``post_delete`` signal (``QuerySet.update()``) must
call ``user_cache_invalidate`` themselves, or are seen within the TTL.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import logging
import pickle
import uuid
from typing import Any

import redis
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import OuterRef
from django.http import HttpRequest
from django.utils import timezone
from django_redis import get_redis_connection
from rest_framework_simplejwt.settings import api_settings

from atrium.conf import atrium_settings
from atrium.tenants import readahead
from atrium.tenants.bumps import MissedBumps
from atrium.tenants.context import current_tenant_or_none, on_commit
from atrium.tenants.keyspace import scoped_key

from .models import User, UserSession

logger = logging.getLogger(__name__)

PURPOSE = "auth"
# Every field of the user but the password hash, in the order an entry lists them.
_NAMES = tuple(f.attname for f in User._meta.concrete_fields if f.attname != "password")
# A generation outlives every entry read at it, so one that expires (no change for a day)
# cannot make an older entry current again: they expired long before.
_GENERATION_TTL = 86400


def _generation_ttl() -> int:
    return max(_GENERATION_TTL, 10 * atrium_settings.AUTH_CACHE_TTL)


def redis_client() -> redis.Redis:
    return get_redis_connection("default")


def _bump(client: redis.Redis, key: str) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, _generation_ttl())
    pipe.execute()


missed_bumps = MissedBumps("auth", _bump)


def user_keys(user_id: object) -> tuple[str, str] | None:
    """(generation key, entry key) of a user id in the current tenant; None when the id
    is no UUID (no user has it)."""
    try:
        canonical = uuid.UUID(str(user_id))
    except ValueError:
        return None
    return scoped_key(PURPOSE, "gen", canonical), scoped_key(PURPOSE, "user", canonical)


def revoked_session_cutoff() -> dt.datetime:
    """Sessions revoked before this have no live access token left (all expired)."""
    leeway = api_settings.LEEWAY
    if not isinstance(leeway, dt.timedelta):
        leeway = dt.timedelta(seconds=leeway)
    return timezone.now() - api_settings.ACCESS_TOKEN_LIFETIME - leeway


def user_from_database(user_id: object) -> tuple[User | None, frozenset[str]]:
    """The user and the ids of its sessions revoked within an access token's lifetime, in
    one query. Raises ValueError or ValidationError for an id that is no UUID."""
    revoked = UserSession.objects.filter(
        user=OuterRef("pk"), revoked_at__gte=revoked_session_cutoff()
    ).values("id")
    user = User.objects.annotate(revoked_session_ids=ArraySubquery(revoked)).filter(pk=user_id)
    found = user.first()
    if found is None:
        return None, frozenset()
    return found, frozenset(str(sid) for sid in found.__dict__.pop("revoked_session_ids"))


def _entry(user: User, revoked: frozenset[str], generation: int) -> bytes:
    # Pickled, as django-redis stores every cache value in the same Redis.
    values = tuple(getattr(user, name) for name in _NAMES)
    return pickle.dumps((generation, _NAMES, values, revoked), pickle.HIGHEST_PROTOCOL)


def _from_entry(raw: bytes, generation: int) -> tuple[User, frozenset[str]] | None:
    """The user of an entry read at ``generation``; None when it is of another generation
    or of another shape of the user (a deploy that changed the model)."""
    entry_generation, names, values, revoked = pickle.loads(raw)
    if entry_generation != generation or names != _NAMES:
        return None
    return User.from_db("default", _NAMES, values), revoked  # the password stays deferred


def _in_transaction() -> bool:
    """Inside a transaction, a read may see a change that is never committed (after the
    change's first bump, which the rolled back commit does not follow): not stored. A test
    case's own transaction (``_from_testcase``, as Django's durable check) does not count."""
    return any(not block._from_testcase for block in connection.atomic_blocks)


def cached_user(user_id: object) -> tuple[User | None, frozenset[str]]:
    """``user_from_database``, from the user's entry when it is current (no SQL), else
    from the database, then stored for the next request."""
    keys = user_keys(user_id)
    if keys is None or (missed_bumps.pending and not missed_bumps.replay()):
        return user_from_database(user_id)
    client = redis_client()
    try:
        raw_generation, raw = readahead.mget(client, keys)
    except redis.RedisError:
        return user_from_database(user_id)
    generation = int(raw_generation or 0)
    if raw is not None and (found := _from_entry(raw, generation)) is not None:
        return found
    user, revoked = user_from_database(user_id)
    if user is not None and not _in_transaction():
        with contextlib.suppress(redis.RedisError):  # not stored: read again next time
            client.set(
                keys[1], _entry(user, revoked, generation), ex=atrium_settings.AUTH_CACHE_TTL
            )
    return user, revoked


def user_cache_invalidate(user_id: object) -> None:
    """Make every process read the user from the database again: the generation is raised
    now and again once the transaction commits. Now, so that the rest of the transaction
    (and a test's, which never commits) reads the change; after the commit, so that an
    entry a concurrent request read from the database before the commit is not believed.
    Nothing outside a tenant: the public schema's operators hold no tokens."""
    if current_tenant_or_none() is None or (keys := user_keys(user_id)) is None:
        return
    key = keys[0]

    def bump() -> None:
        try:
            _bump(redis_client(), key)
        except redis.RedisError:
            missed_bumps.keep(key)
            logger.warning("auth: Redis unavailable, the user cache bump of %s is kept", user_id)
        else:
            missed_bumps.replay()

    bump()
    on_commit(bump)


def unverified_user_id(raw_token: str) -> str | None:
    """The user claim of a JWT, read without checking anything: only to name the keys to
    read ahead (the token is verified before any value is used)."""
    parts = raw_token.split(".")
    if len(parts) != 3 or len(parts[1]) > 4096:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    value = payload.get(api_settings.USER_ID_CLAIM) if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None


def read_ahead_keys(request: HttpRequest) -> tuple[str, ...]:
    """The read-ahead reader (``atrium.tenants.readahead``): the entry of the bearer
    token's user."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw_token = header.partition(" ")
    if scheme not in api_settings.AUTH_HEADER_TYPES or not raw_token:
        return ()
    user_id = unverified_user_id(raw_token.strip())
    return (user_keys(user_id) or ()) if user_id else ()


def invalidate_on_change(sender: type, instance: User, **kwargs: Any) -> None:
    """``post_save`` and ``post_delete`` receiver of User: every saved change (a profile, the
    one-time-password flag, a reactivation; deactivation and role changes revoke too) and
    every deletion (the admin's bulk delete too) is seen by the next request. A user just
    created has no entry to invalidate (an entry is only written from its row), and raising
    its generation would leave a key behind a creation that rolls back (a failed
    provisioning must leave nothing)."""
    if kwargs.get("created"):
        return
    user_cache_invalidate(instance.pk)
