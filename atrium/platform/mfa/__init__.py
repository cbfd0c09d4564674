"""Multi-factor authentication of a tenant's users: TOTP (RFC 6238) with recovery codes."""
