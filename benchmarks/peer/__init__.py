"""The textbook peer of the serving benchmark (issue 15): what users would build instead of
Atrium, with django-tenants, DRF and simplejwt, each the way its documentation shows. An app,
not a benchmark script: ``benchmarks/catalog.py --peer`` serves it with gunicorn."""
