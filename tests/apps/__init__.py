"""Tenant apps that exist only in the test settings (``config/settings/test.py``)."""
