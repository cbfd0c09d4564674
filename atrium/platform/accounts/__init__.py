"""Accounts: the User of each tenant schema (and of the operators in public)."""
