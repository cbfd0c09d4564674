"""The usage report's shape (``atrium.tenants.usage.usage_report``)."""

from rest_framework import serializers


class QuotasSerializer(serializers.Serializer):
    """The plan's quotas; null: no quota."""

    seats = serializers.IntegerField(allow_null=True, help_text="Active users at most.")
    products = serializers.IntegerField(allow_null=True, help_text="Live products at most.")
    storage_bytes = serializers.IntegerField(
        allow_null=True, help_text="Bytes of the tenant's database at most (not enforced)."
    )


class UsageSerializer(serializers.Serializer):
    """What the tenant used today (UTC), and what its plan allows."""

    plan = serializers.CharField(help_text="The tenant's plan.")
    period = serializers.DateField(help_text="The day (UTC) the counters are of: today.")
    api_requests = serializers.IntegerField(help_text="API requests made today.")
    active_users = serializers.IntegerField(
        help_text="Distinct users who called the API today (an estimate within ~1%)."
    )
    seats = serializers.IntegerField(help_text="Active user accounts now (the seats in use).")
    products = serializers.IntegerField(help_text="Live products now.")
    storage_bytes = serializers.IntegerField(
        help_text="Bytes of the tenant's database now (tables, indexes, TOAST)."
    )
    quotas = QuotasSerializer()
