"""Cross-cutting test suites: isolation, CLI, provisioning, routing."""
