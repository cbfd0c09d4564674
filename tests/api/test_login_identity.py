"""One canonical e-mail for storage, login lookup and the login lock (issue 11, item 3).

Look-alike spellings of an address (long s, dotless i, the Kelvin sign, full-width letters,
decomposed accents, invisible characters) are the same account and the same throttle
bucket: once the real address is locked, every spelling is refused with 429, and no
spelling ever signs in to an account other than the canonical one.
"""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from atrium.errors import Conflict
from atrium.platform.accounts import services
from atrium.platform.accounts.emails import canonical_email
from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.throttling import email_digest
from atrium.tenants.context import tenant_scope

PASSWORD = "Tr0ub4dor-and-3-horses"
TOKEN_URL = "/api/v1/auth/token/"
HOST = "alpha.localhost"


def login(email: str, password: str = PASSWORD, *, address: str = "203.0.113.30"):
    return Client(HTTP_HOST=HOST, REMOTE_ADDR=address).post(
        TOKEN_URL, {"email": email, "password": password}, content_type="application/json"
    )


def user_id_of(response) -> str:
    import jwt

    return jwt.decode(response.json()["access"], options={"verify_signature": False})["user_id"]


def lookalikes(local: str, domain: str = "alpha.test") -> dict[str, str]:
    """Spellings of ``<local>@<domain>`` that a person reads as the same address.
    ``local`` must contain k, s and i, and ``domain`` an s."""
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in local)
    return {
        "long s (U+017F)": f"{local.replace('s', '\u017f')}@{domain.replace('s', '\u017f')}",
        "dotless i (U+0131)": f"{local.replace('i', '\u0131')}@{domain}",
        "dotted capital I (U+0130)": f"{local.upper().replace('I', '\u0130')}@{domain}",
        "Kelvin sign (U+212A)": f"{local.replace('k', 'K')}@{domain}",
        "full-width letters": f"{fullwidth}@{domain}",
        "full-width at sign": f"{local}\uff20{domain}",
        "soft hyphen and zero-width space": f"{local}@{domain[:2]}\u00ad{domain[2:]}\u200b",
        "combining grapheme joiner": f"{local}@{domain[:3]}\u034f{domain[3:]}",
        "upper case and spaces": f"  {local.upper()}@{domain.upper()} ",
    }


@pytest.fixture
def roomy_limits(settings):
    """Every attempt spends the budget, successful ones too: room for one per spelling."""
    settings.ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "50/min", "per_ip": "50/min"}


@pytest.fixture
def kristin(tenant_a) -> User:
    with tenant_scope(tenant_a):
        return User.objects.create_user(
            email=f"kristin-{uuid.uuid4().hex[:6]}@alpha.test", password=PASSWORD
        )


# ------------------------------------------------------------------- the function
@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("owner@x.te\u017ft", "owner@x.test"),
        ("\u212aelvin@x.test", "kelvin@x.test"),
        ("adm\u0131n@x.test", "admin@x.test"),
        ("\u0130NFO@X.TEST", "info@x.test"),
        (
            "\uff4f\uff57\uff4e\uff45\uff52\uff20\uff58\uff0e\uff54\uff45\uff53\uff54",
            "owner@x.test",
        ),
        ("jose@cafe\u0301.test", "jose@caf\u00e9.test"),
        ("jo\u200bse@x.te\u00adst", "jose@x.test"),
        ("  Stra\u00dfe@X.Test\t", "strasse@x.test"),
        ("", ""),
        (None, ""),
    ],
)
def test_canonical_email(raw, canonical):
    assert canonical_email(raw) == canonical


@given(st.text(max_size=40))
def test_canonical_email_is_idempotent(text):
    once = canonical_email(text)
    assert canonical_email(once) == once


def test_every_lookalike_has_the_throttle_key_of_the_real_address():
    real = "kristin@alpha.test"
    for name, spelling in lookalikes("kristin").items():
        assert canonical_email(spelling) == real, name
        assert email_digest(spelling) == email_digest(real), name


# ------------------------------------------------------------------ the login API
@pytest.mark.django_db
def test_after_the_lock_every_lookalike_is_refused(tenant_a, kristin):
    per_email = int(settings.ATRIUM_LOGIN_RATE_LIMITS["per_email"].split("/")[0])
    for _ in range(per_email):
        assert login(kristin.email, "wrong-password").status_code == 401
    assert login(kristin.email).status_code == 429
    local = kristin.email.split("@")[0]
    answers = {name: login(spelling) for name, spelling in lookalikes(local).items()}
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 429)
    assert all(r.json()["errors"][0]["code"] == "throttled" for r in answers.values())


@pytest.mark.django_db
def test_every_lookalike_signs_in_to_the_canonical_account_only(tenant_a, kristin, roomy_limits):
    local = kristin.email.split("@")[0]
    for name, spelling in lookalikes(local).items():
        response = login(spelling)
        assert response.status_code == 200, (name, response.content)
        assert user_id_of(response) == str(kristin.pk), name


@pytest.mark.django_db
def test_a_different_address_is_not_the_account(tenant_a, kristin):
    """A combining mark over a letter makes another address (as it does in DNS): it is
    neither the account nor its lock, whatever PostgreSQL's collation thinks."""
    local = kristin.email.split("@")[0]
    for other in (f"{local}@alpha.tes\u0336t", f"{local}x@alpha.test", f"{local}@alpha.test.xy"):
        response = login(other)
        assert response.status_code == 401, (other, response.content)


@pytest.mark.django_db
def test_decomposed_accents_are_the_composed_address(tenant_a):
    with tenant_scope(tenant_a):
        user = User.objects.create_user(email="jose@cafe\u0301.test", password=PASSWORD)
    assert user.email == "jose@caf\u00e9.test"
    response = login("JOSE@CAF\u00c9.TEST")
    assert response.status_code == 200, response.content
    assert user_id_of(response) == str(user.pk)


@pytest.mark.django_db
def test_malformed_after_canonicalisation_is_a_400(tenant_a):
    # U+FF20 (full-width at) is an at sign once normalised: validated after canonicalisation, not before.
    response = login("evil\uff20attacker.test@alpha.test")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "email"


# ----------------------------------------------------------- storage and creation
@pytest.mark.django_db
def test_storage_is_canonical_and_lookalikes_cannot_open_a_second_account(tenant_a, kristin):
    local = kristin.email.split("@")[0]
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        for name, spelling in lookalikes(local).items():
            with pytest.raises(Conflict) as excinfo:
                services.user_create(actor=owner, email=spelling, role=Role.MEMBER)
            assert excinfo.value.code == "email_taken", name
            with pytest.raises((IntegrityError, ValidationError)), transaction.atomic():
                User.objects.create_user(email=spelling, password=PASSWORD)
        created = services.user_create(
            actor=owner, email=f"NEW.\u212a{local}@ALPHA.TE\u017fT", role=Role.MEMBER
        )
    assert created.user.email == f"new.k{local}@alpha.test"


@pytest.mark.django_db
def test_the_users_api_creates_lookalike_spellings_canonically(tenant_a, kristin):
    client = Client(HTTP_HOST=HOST)
    token = login("owner@alpha.test", "Correct-Horse-Battery-42").json()["access"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    local = kristin.email.split("@")[0]
    taken = client.post(
        "/api/v1/users/",
        {"email": lookalikes(local)["full-width letters"]},
        content_type="application/json",
        **auth,
    )
    assert taken.status_code == 409, taken.content
    created = client.post(
        "/api/v1/users/",
        {"email": f"\uff4e\uff45\uff57-{local}@alpha.te\u017ft"},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201, created.content
    assert created.json()["email"] == f"new-{local}@alpha.test"


# ------------------------------------------------------------------ data migration
migration = importlib.import_module("atrium.platform.accounts.migrations.0002_user_email_canonical")


def _store_raw(user: User, email: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_user SET email = %s WHERE id = %s", [email, user.pk])


@pytest.mark.django_db
def test_the_migration_rewrites_stored_emails_to_their_canonical_form(tenant_a, kristin):
    from django.apps import apps

    with tenant_scope(tenant_a):
        _store_raw(kristin, kristin.email.upper().replace("S", "\u017f"))
        migration.canonicalize_emails(apps, connection.schema_editor())
        kristin.refresh_from_db()
    assert kristin.email == canonical_email(kristin.email)
    assert login(kristin.email.upper()).status_code == 200


@pytest.mark.django_db
def test_the_migration_refuses_two_accounts_with_one_canonical_email(tenant_a, kristin):
    from django.apps import apps

    with tenant_scope(tenant_a):
        twin = User.objects.create_user(email=f"twin-{kristin.email}", password=PASSWORD)
        # Two rows that were distinct under the old lower() rule.
        _store_raw(twin, kristin.email.replace("s", "\u017f"))
        with pytest.raises(RuntimeError) as excinfo:
            migration.canonicalize_emails(apps, connection.schema_editor())
    message = str(excinfo.value)
    assert kristin.email in message and tenant_a.schema_name in message
    assert "change the e-mail" in message.lower()  # says what to do next


@pytest.mark.django_db
def test_the_tenant_admin_adds_users_canonically(tenant_a, kristin):
    client = Client(HTTP_HOST=HOST)
    signed_in = client.post(
        "/admin/login/", {"username": "owner@alpha.test", "password": "Correct-Horse-Battery-42"}
    )
    assert signed_in.status_code == 302
    local = kristin.email.split("@")[0]
    taken = client.post(
        "/admin/accounts/user/add/",
        {"email": lookalikes(local)["full-width letters"], "name": "", "role": "member"},
    )
    assert taken.status_code == 200 and b"exists already" in taken.content
    added = client.post(
        "/admin/accounts/user/add/",
        {
            "email": f"\uff21\uff24\uff24\uff25\uff24-{local}@alpha.te\u017ft",
            "name": "",
            "role": "member",
        },
    )
    assert added.status_code == 302, added.content
    with tenant_scope(tenant_a):
        assert User.objects.filter(email=f"added-{local}@alpha.test").exists()


def test_provisioning_stores_the_owner_canonically(live_db):
    from atrium.tenants import provisioning

    live_db.append("canon")
    result = provisioning.tenant_create(
        slug="canon", name="Canon", owner_email="\uff2f\uff37\uff2e\uff25\uff32@Canon.te\u017ft"
    )
    assert result.owner_email == "owner@canon.test"
    with tenant_scope(result.tenant):
        assert list(User.objects.values_list("email", flat=True)) == ["owner@canon.test"]


@pytest.mark.django_db
def test_the_platform_admin_compares_operators_canonically():
    from atrium.tenants.context import public_scope

    with public_scope():
        User.objects.create_superuser(email="ops-canon@atrium.test", password=PASSWORD)
    client = Client(HTTP_HOST="localhost")
    signed_in = client.post(
        "/admin/login/", {"username": "OPS-CANON@ATRIUM.TE\u017fT", "password": PASSWORD}
    )
    assert signed_in.status_code == 302
    form = {"name": "", "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"}
    taken = client.post(
        "/admin/accounts/user/add/", {**form, "email": "OP\u017f-CANON@ATRIUM.TEST"}
    )
    assert taken.status_code == 200 and b"already exists" in taken.content
    added = client.post("/admin/accounts/user/add/", {**form, "email": "NEW\u212a@ATRIUM.TEST"})
    assert added.status_code == 302
    with public_scope():
        assert User.objects.filter(email="newk@atrium.test").exists()
