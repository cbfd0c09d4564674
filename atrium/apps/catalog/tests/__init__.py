"""Catalog suites: the reference tenant app."""
