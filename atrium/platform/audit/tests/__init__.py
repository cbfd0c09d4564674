"""The audit log's hooks for the suites that cut across apps (its own tests are in
``tests/audit/``)."""
