"""API keys of a tenant: machine credentials (``Authorization: Api-Key atr_…``)."""
