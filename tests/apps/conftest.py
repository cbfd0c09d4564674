"""The two tenants' worlds of the cross-tenant suite, for the checklist's proof."""

from tests.isolation.conftest import alpha, beta, media, roomy_limits  # noqa: F401
