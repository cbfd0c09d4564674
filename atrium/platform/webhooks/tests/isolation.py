"""What the cross-tenant suite (tests/isolation) needs of webhooks: a real endpoint and a
delivery of the tenant in scope for each route that takes an id (a route with two
parameters gets one id per name)."""

from typing import Any

from atrium.platform.accounts.models import User

from .. import services


def tenant_objects(*, owner: User, marker: str) -> dict[str, Any]:
    # A public IP literal: saved without a DNS lookup, refused by nobody.
    endpoint = services.webhook_create(
        url=f"https://93.184.215.14/{marker}", events=["product.created"], description=marker
    )
    [delivery] = services.deliveries_record(
        endpoints=[endpoint], event_type="product.created", body={"type": "product.created"}
    )
    base = "/api/v1/webhooks/{id}/"
    return {
        base: endpoint.pk,
        base + "rotate-secret/": endpoint.pk,
        base + "test/": endpoint.pk,
        base + "deliveries/": endpoint.pk,
        base + "deliveries/{delivery_id}/retry/": {"id": endpoint.pk, "delivery_id": delivery.pk},
    }
