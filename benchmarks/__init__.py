"""Reproducible benchmarks; each module runs on its own, see benchmarks/README.md."""
