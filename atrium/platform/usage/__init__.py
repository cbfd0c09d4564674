"""The usage API of a tenant: ``GET /api/v1/usage/`` (its plan, today's metered usage and
the plan's quotas), for owners and admins."""
