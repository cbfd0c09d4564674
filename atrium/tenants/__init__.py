"""Tenants: the Tenant and Domain tables, the tenant context, host routing and provisioning."""
