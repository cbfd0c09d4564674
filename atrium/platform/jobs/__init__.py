"""Jobs: long work (imports, exports) answered with 202 and a job resource to follow."""
