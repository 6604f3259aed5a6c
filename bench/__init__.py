"""Benchmarks: plain scripts that print figures and the command that reproduces them.
Not tests, and not part of the product: nothing in carnet/ imports from here."""
