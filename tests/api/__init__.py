"""API suites: auth, throttling, users, conventions."""
