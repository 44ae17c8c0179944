"""Throughput benchmark of the function app: ``make bench``."""
