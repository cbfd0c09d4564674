"""A person's data inside a tenant (GDPR Art. 15 and 17): export it, erase it."""
