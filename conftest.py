"""Registers the suite-wide fixtures (``tests/fixtures.py``) for every test under the
repository: the cross-cutting suites in ``tests/`` and each app's own ``tests/`` package
(``atrium/apps/<app>/tests/``) share one database, one tenant pair and one Redis clean-up."""

pytest_plugins = ["tests.fixtures"]
