"""The tenant's audit log: who did what, recorded by the services in the write's transaction."""
