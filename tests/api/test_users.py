"""The users API: roles, the last-owner rule, mass assignment, pagination, filters, errors."""

import pytest
from rest_framework.test import APIClient

from atrium.platform.accounts.hashers import GENERATED_SECRET_HASHER
from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import tenant_scope

URL = "/api/v1/users/"


@pytest.fixture
def people(tenant_a):
    """An owner (the tenant's own), an admin and a member of tenant alpha."""
    with tenant_scope(tenant_a):
        people = {
            "owner": User.objects.get(email="owner@alpha.test"),
            "admin": User.objects.create_user(email="admin@alpha.test", role=Role.ADMIN),
            "member": User.objects.create_user(email="member@alpha.test", role=Role.MEMBER),
        }
    for user in people.values():
        user.tenant = tenant_a  # for the checks below, which read back inside the tenant
    return people


def as_user(user: User, host: str = "alpha.localhost") -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.force_authenticate(user)
    return client


def error_codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


@pytest.mark.django_db
def test_me_shows_and_updates_only_the_profile(people):
    client = as_user(people["member"])
    body = client.get(URL + "me/").json()
    assert (body["email"], body["role"]) == ("member@alpha.test", "member")
    assert client.patch(URL + "me/", {"name": "Mem Ber"}).json()["name"] == "Mem Ber"
    # Mass assignment: role, ids and unknown fields are refused, and nothing changes.
    for payload in ({"role": "owner"}, {"id": "x"}, {"is_staff": True}, {"tenant": "beta"}):
        response = client.patch(URL + "me/", payload)
        assert response.status_code == 400
        assert response.json()["type"] == "validation_error"
        assert error_codes(response) == ["unknown_field"]
    with tenant_scope(people["member"].tenant):
        people["member"].refresh_from_db()
    assert (people["member"].role, people["member"].is_staff) == ("member", False)


@pytest.mark.django_db
def test_me_answers_what_the_user_serializer_would(people):
    """``users/me/`` renders with ``user_row``; it must stay ``UserSerializer``'s output,
    value for value, with and without a last login (and after a rename)."""
    from django.utils import timezone

    from atrium.platform.accounts.serializers import UserSerializer

    member, owner = people["member"], people["owner"]
    with tenant_scope(member.tenant):
        User.objects.filter(pk=owner.pk).update(last_login=timezone.now())
        owner.refresh_from_db()
        member.refresh_from_db()
        assert member.last_login is None and owner.last_login is not None
        expected = {u.pk: dict(UserSerializer(u).data) for u in (member, owner)}
    for user in (member, owner):
        assert as_user(user).get(URL + "me/").json() == expected[user.pk]
    renamed = as_user(member).patch(URL + "me/", {"name": "Mem Ber"}).json()
    assert renamed == expected[member.pk] | {"name": "Mem Ber"}


@pytest.mark.django_db
def test_members_read_the_directory_but_cannot_manage(people):
    client = as_user(people["member"])
    listing = client.get(URL).json()
    assert {u["email"] for u in listing["results"]} == {
        "owner@alpha.test",
        "admin@alpha.test",
        "member@alpha.test",
    }
    assert client.post(URL, {"email": "x@alpha.test"}).status_code == 403
    target = people["admin"].pk
    assert client.patch(f"{URL}{target}/", {"role": "member"}).status_code == 403
    assert client.delete(f"{URL}{target}/").status_code == 403
    assert error_codes(client.delete(f"{URL}{target}/")) == ["permission_denied"]


@pytest.mark.django_db
def test_admin_invites_a_member_with_a_one_time_password(people):
    response = as_user(people["admin"]).post(URL, {"email": "New@Alpha.test", "name": "New"})
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"]) == ("new@alpha.test", "member")
    assert len(body["one_time_password"]) >= 32
    with tenant_scope(people["admin"].tenant):
        created = User.objects.get(email="new@alpha.test")
        assert created.check_password(body["one_time_password"])


@pytest.mark.django_db
def test_an_invited_owner_is_made_like_the_tenant_s_first_owner(people):
    """The API and ``tenants create`` make owners with the one user-manager method: the
    same role semantics, the same fast-hashed one-time password."""
    response = as_user(people["owner"]).post(URL, {"email": "second@alpha.test", "role": "owner"})
    assert response.status_code == 201, response.json()
    with tenant_scope(people["owner"].tenant):
        first = User.objects.get(email="owner@alpha.test")  # made by tenant_create
        second = User.objects.get(email="second@alpha.test")
        assert second.password.startswith(f"{GENERATED_SECRET_HASHER}$")
        assert second.check_password(response.json()["one_time_password"])
    access = ("role", "is_staff", "is_superuser", "is_active")
    assert [getattr(second, name) for name in access] == [getattr(first, name) for name in access]
    assert (second.role, second.is_staff, second.is_superuser) == (Role.OWNER, True, True)


@pytest.mark.parametrize(
    ("actor", "payload", "status", "code"),
    [
        ("admin", {"email": "o2@alpha.test", "role": "owner"}, 403, "permission_denied"),
        ("owner", {"email": "a2@alpha.test", "role": "admin"}, 201, None),
        ("admin", {"email": "member@ALPHA.test"}, 409, "email_taken"),
        ("admin", {"email": "not-an-email"}, 400, "invalid"),
        ("admin", {"email": "x@alpha.test", "role": "emperor"}, 400, "invalid_choice"),
        ("admin", {"email": "x@alpha.test", "is_staff": True}, 400, "unknown_field"),
        ("admin", {"email": "x@alpha.test", "password": "123"}, 400, "min_length"),
        ("admin", {"email": "x@alpha.test", "password": "password1234"}, 400, "password_too_weak"),
    ],
)
@pytest.mark.django_db
def test_user_creation_rules(people, actor, payload, status, code):
    response = as_user(people[actor]).post(URL, payload)
    assert response.status_code == status, response.json()
    if code:
        assert code in error_codes(response)


@pytest.mark.django_db
def test_roles_change_by_the_rules(people):
    admin, owner, member = people["admin"], people["owner"], people["member"]
    promote = as_user(admin).patch(f"{URL}{member.pk}/", {"role": "admin"})
    assert promote.json()["role"] == "admin"
    # Admins never touch the owner role, either way.
    assert as_user(admin).patch(f"{URL}{owner.pk}/", {"role": "member"}).status_code == 403
    assert as_user(admin).patch(f"{URL}{member.pk}/", {"role": "owner"}).status_code == 403
    # The last owner can be neither demoted nor deactivated, even by themselves.
    for payload in ({"role": "admin"}, {"is_active": False}):
        response = as_user(owner).patch(f"{URL}{owner.pk}/", payload)
        assert response.status_code == 409
        assert error_codes(response) == ["last_owner"]
    assert as_user(owner).delete(f"{URL}{owner.pk}/").status_code == 409
    # With a second owner, the first may step down.
    assert as_user(owner).patch(f"{URL}{admin.pk}/", {"role": "owner"}).status_code == 200
    assert as_user(owner).patch(f"{URL}{owner.pk}/", {"role": "admin"}).json()["role"] == "admin"


@pytest.mark.django_db
def test_delete_deactivates(people):
    member = people["member"]
    assert as_user(people["admin"]).delete(f"{URL}{member.pk}/").status_code == 204
    with tenant_scope(member.tenant):
        member.refresh_from_db()
    assert member.is_active is False
    assert as_user(people["admin"]).get(URL, {"is_active": "false"}).json()["count"] == 1
    # A flag that is not true/false is refused, not read as "no filter" (the whole list).
    maybe = as_user(people["admin"]).get(URL, {"is_active": "maybe"})
    assert maybe.status_code == 400
    assert maybe.json()["errors"][0]["attr"] == "is_active"


@pytest.mark.django_db
def test_pagination_search_filters_and_ordering(people, tenant_a):
    with tenant_scope(tenant_a):
        User.objects.bulk_create(
            User(email=f"bulk{i:03}@alpha.test", password="!") for i in range(130)
        )
    client = as_user(people["admin"])
    page = client.get(URL, {"page_size": 100000}).json()
    assert page["count"] == 133 and len(page["results"]) == 100  # capped
    assert page["next"].endswith("page=2&page_size=100000")
    assert page["previous"] is None
    assert client.get(URL, {"page": 2, "page_size": 100}).json()["next"] is None
    assert client.get(URL, {"q": "bulk12"}).json()["count"] == 10
    assert client.get(URL, {"role": "admin"}).json()["results"][0]["email"] == "admin@alpha.test"
    first = client.get(URL, {"ordering": "-email"}).json()["results"][0]["email"]
    assert first == "owner@alpha.test"
    for params, code in (
        ({"ordering": "password"}, "invalid_ordering"),
        ({"role": "emperor"}, "invalid_choice"),
        ({"page": 99}, "not_found"),
        ({"page": "x"}, "not_found"),
    ):
        response = client.get(URL, params)
        assert 400 <= response.status_code < 500, params
        assert code in error_codes(response), response.json()


@pytest.mark.parametrize("page_size", [5, 50])
@pytest.mark.django_db
def test_user_list_query_count_does_not_grow_with_the_page(
    people, tenant_a, page_size, django_assert_num_queries
):
    with tenant_scope(tenant_a):
        User.objects.bulk_create(User(email=f"n{i}@alpha.test", password="!") for i in range(60))
    client = as_user(people["admin"])
    client.get(URL + "me/")  # warms host routing
    # The tenant's search_path, the count and the page: the same three, whatever the size.
    with django_assert_num_queries(3):
        assert len(client.get(URL, {"page_size": page_size}).json()["results"]) == page_size


@pytest.mark.parametrize(
    "path", ["not-a-uuid/", "00000000-0000-0000-0000-000000000000/", "%F0%9F%92%A9/"]
)
@pytest.mark.django_db
def test_bad_or_unknown_ids_are_a_json_404(people, path):
    response = as_user(people["admin"]).get(URL + path)
    assert response.status_code == 404
    assert error_codes(response) == ["not_found"]


@pytest.mark.django_db
def test_another_tenants_user_ids_are_not_found(people, tenant_b):
    with tenant_scope(tenant_b):
        beta_owner = User.objects.get(email="owner@beta.test")
    client = as_user(people["owner"])
    assert client.get(f"{URL}{beta_owner.pk}/").status_code == 404
    assert client.patch(f"{URL}{beta_owner.pk}/", {"name": "pwned"}).status_code == 404
    assert client.delete(f"{URL}{beta_owner.pk}/").status_code == 404


@pytest.mark.django_db
def test_bodies_are_json_only_a_form_is_415_not_an_empty_change(people):
    client = as_user(people["member"])
    response = client.patch(f"{URL}me/", {"name": "Formed"}, format="multipart")
    assert response.status_code == 415
    assert client.get(f"{URL}me/").json()["name"] != "Formed"


@pytest.mark.django_db
def test_passwords_are_set_by_who_manages_the_user_and_revoke_the_old_tokens(people):
    """Another's password: only by who manages that user, never one's own (that takes the
    current password: tests/api/test_passwords.py); the user's tokens stop working."""
    from atrium.platform.accounts.tokens import token_pair_issue

    member, admin = people["member"], people["admin"]
    with tenant_scope(member.tenant):
        old = token_pair_issue(user=member)
    client = APIClient(HTTP_HOST="alpha.localhost", HTTP_AUTHORIZATION=f"Bearer {old.access}")
    # Members cannot set anybody's password; admins cannot set an owner's, nor their own.
    other = as_user(member).post(f"{URL}{admin.pk}/password/", {"password": "N3w-Passw0rd-x"})
    assert (other.status_code, error_codes(other)) == (403, ["permission_denied"])
    owner = as_user(admin).post(
        f"{URL}{people['owner'].pk}/password/", {"password": "N3w-Passw0rd-x"}
    )
    assert (owner.status_code, error_codes(owner)) == (403, ["permission_denied"])
    own = as_user(admin).post(f"{URL}{admin.pk}/password/", {"password": "N3w-Passw0rd-x"})
    assert (own.status_code, error_codes(own)) == (403, ["permission_denied"])
    weak = as_user(admin).post(f"{URL}{member.pk}/password/", {"password": "123"})
    assert (weak.status_code, error_codes(weak)) == (400, ["password_too_weak"])
    assert client.get(URL + "me/").status_code == 200  # nothing changed so far

    changed = as_user(admin).post(f"{URL}{member.pk}/password/", {"password": "N3w-Passw0rd-x"})
    assert changed.status_code == 204
    refused = client.get(URL + "me/")
    assert (refused.status_code, error_codes(refused)) == (401, ["token_revoked"])
    with tenant_scope(member.tenant):
        member.refresh_from_db()
        assert member.check_password("N3w-Passw0rd-x")


def socket_closes(callbacks, user: User) -> list[tuple[int, str]]:
    """The socket closes of ``user`` that the captured commit callbacks would send."""
    from atrium.tenants.sockets import user_group

    closes = []
    for callback in callbacks:
        group, message = (getattr(callback, "args", None) or (None, None))[:2]
        if group is None:  # another commit hook (a cache bump)
            continue
        if group == user_group(user.pk) and message.get("type") == "socket.close":
            closes.append((message["code"], message["reason"]))
    return closes


CHANGES = {
    "deactivation by the service": (
        "user_inactive",
        lambda user, owner: _service(user, owner, is_active=False),
    ),
    "role change by the service": (
        "role_changed",
        lambda user, owner: _service(user, owner, role=Role.ADMIN),
    ),
    "password set by the service": ("password_changed", lambda user, owner: _password(user, owner)),
    "deactivation saved in a shell": (
        "user_inactive",
        lambda user, owner: _shell(user, is_active=False),
    ),
    "role change saved in a shell": (
        "role_changed",
        lambda user, owner: _shell(user, role=Role.ADMIN),
    ),
    "both in one save": (
        "user_inactive",
        lambda user, owner: _shell(user, is_active=False, role=Role.ADMIN),
    ),
    "deactivation saved with update_fields": (
        "user_inactive",
        lambda user, owner: _shell(user, update_fields=["is_active"], is_active=False),
    ),
}


def _service(user, owner, **change):
    from atrium.platform.accounts.services import user_update

    user_update(actor=owner, user=user, **change)


def _password(user, owner):
    from atrium.platform.accounts.services import user_password_set

    user_password_set(actor=owner, user=user, password="N3w-Passw0rd-horse")


def _shell(user, update_fields=None, **change):
    user = User.objects.get(pk=user.pk)
    for name, value in change.items():
        setattr(user, name, value)
    user.save(update_fields=update_fields)


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.django_db
def test_a_change_of_access_revokes_exactly_once_whatever_saves_it(
    people, django_capture_on_commit_callbacks, change
):
    """The token version rises by exactly one and the user's sockets get exactly one close,
    whether a service or any other code saved the change; saving again changes nothing."""
    reason, make = CHANGES[change]
    member = people["member"]
    with tenant_scope(member.tenant):
        before = User.objects.get(pk=member.pk).token_version
        with django_capture_on_commit_callbacks() as callbacks:
            make(member, people["owner"])
        assert User.objects.get(pk=member.pk).token_version == before + 1
        assert socket_closes(callbacks, member) == [(4401, reason)]
        # Saved again, with nothing changed: no second revocation.
        with django_capture_on_commit_callbacks() as callbacks:
            again = User.objects.get(pk=member.pk)
            again.save()
            again.save()
            member.save(update_fields=["name"])
        assert User.objects.get(pk=member.pk).token_version == before + 1
        assert socket_closes(callbacks, member) == []


@pytest.mark.django_db
def test_a_stale_copy_of_a_user_never_writes_back_an_older_token_version(people):
    from atrium.platform.accounts.tokens import user_tokens_revoke

    member = people["member"]
    with tenant_scope(member.tenant):
        stale = User.objects.get(pk=member.pk)
        user_tokens_revoke(user=User.objects.get(pk=member.pk), reason="logged_out")
        stale.name = "Renamed"
        stale.save()
        assert User.objects.get(pk=member.pk).token_version == 1


@pytest.mark.django_db
def test_saves_that_change_no_access_revoke_nothing(people, django_capture_on_commit_callbacks):
    """A new name, a reactivation, a change kept in memory but left out of update_fields."""
    member = people["member"]
    with tenant_scope(member.tenant), django_capture_on_commit_callbacks() as callbacks:
        user = User.objects.get(pk=member.pk)
        user.name = "Renamed"
        user.save()
        user.is_active = False
        user.role = Role.ADMIN
        user.save(update_fields=["name"])
        User.objects.filter(pk=member.pk).update(is_active=False)  # bypasses save (documented)
        user = User.objects.get(pk=member.pk)
        user.is_active = True
        user.save()
        assert User.objects.get(pk=member.pk).token_version == 0
    assert socket_closes(callbacks, member) == []
