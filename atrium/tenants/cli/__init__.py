"""The ``tenants`` operator CLI, one module per subcommand group (wired in
``management/commands/tenants.py``)."""
