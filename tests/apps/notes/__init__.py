"""Notes: a tenant app built by following the README's "new tenant app" checklist, installed
in the test settings only. It proves the checklist: nothing outside this folder names it
but ``TENANT_APPS``, and the cross-tenant suite (tests/isolation) covers its routes."""
