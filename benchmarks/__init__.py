"""Throughput benchmark of the function app (issue 5): ``make bench``."""
