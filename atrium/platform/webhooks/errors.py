"""Error codes of webhooks, declared in the registry of error codes (``atrium/errors.py``)."""

from atrium.errors import error_code

error_code(400, "url_too_long", "The webhook URL is longer than 2,048 characters.")
error_code(400, "invalid_url", "The webhook URL cannot be parsed or has no host.")
error_code(400, "url_scheme_not_allowed", "The webhook URL is not http(s) (https required).")
error_code(400, "url_credentials", "The webhook URL carries user:password@.")
error_code(400, "url_not_public", "The webhook URL's host is or resolves to a non-public IP.")
error_code(400, "url_unresolvable", "The webhook URL's host does not resolve.")
error_code(400, "unknown_event_type", "An event type the catalogue does not declare.")
error_code(400, "events_empty", "A webhook subscribes to at least one event type.")
error_code(409, "too_many_webhooks", "The tenant has ATRIUM_MAX_WEBHOOKS endpoints already.")
error_code(409, "webhook_disabled", "The endpoint is disabled: enable it first.")
