"""The tenant's own settings API (``/api/v1/tenant/``): name, MFA rule, CORS origins."""
