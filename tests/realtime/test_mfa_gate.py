"""Sockets follow the tenant's MFA rule like HTTP: while ``require_mfa_for_admins`` is on, an
owner or admin without MFA is refused (4403 ``mfa_enrolment_required``); members are not."""

from __future__ import annotations

import pyotp
from django.utils import timezone

from atrium.platform.mfa.models import TOTPDevice
from atrium.tenants import services
from atrium.tenants.context import tenant_scope

from .sockets import access_token, async_test, communicator, in_thread, open_socket, refusal


def require_mfa(on: bool) -> None:
    services.tenant_settings_update(slug="alpha", require_mfa_for_admins=on)


def mfa_on(tenant, user) -> None:
    with tenant_scope(tenant):
        TOTPDevice.objects.create(
            user=user, secret=pyotp.random_base32(), confirmed_at=timezone.now()
        )


def mfa_off(tenant, user) -> None:
    with tenant_scope(tenant):
        TOTPDevice.objects.filter(user=user).delete()


@async_test
async def test_an_owner_who_must_enrol_gets_no_socket(tenant_a, alpha_owner, alpha_member):
    owner_token = await in_thread(access_token, tenant_a, alpha_owner)
    member_token = await in_thread(access_token, tenant_a, alpha_member)
    async with open_socket(token=owner_token):
        pass  # the rule is off: accepted
    try:
        await in_thread(require_mfa, True)
        assert await refusal(communicator(token=owner_token)) == (4403, "mfa_enrolment_required")
        async with open_socket(token=member_token):
            pass
        await in_thread(mfa_on, tenant_a, alpha_owner)
        async with open_socket(token=owner_token):
            pass
    finally:
        await in_thread(mfa_off, tenant_a, alpha_owner)
        await in_thread(require_mfa, False)
