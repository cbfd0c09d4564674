"""API conventions every tenant API follows: base views, errors, pagination, throttles."""
