"""Error codes of the catalog, declared in the registry of error codes
(``atrium/errors.py``) so that the OpenAPI schema lists them."""

from atrium.errors import error_code

error_code(409, "category_in_use", "The category still has live products or subcategories.")
error_code(409, "not_deleted", "Only a deleted object can be restored.")
error_code(409, "sku_taken", "A live product has this SKU.")
error_code(409, "slug_taken", "A live object has this slug.")
error_code(409, "review_exists", "The author has a live review of this product.")
