"""Catalog: the reference tenant app (categories, products, reviews). Copy it for new apps."""
