"""Organisations: groups of establishments (FINESS), their units (services) and rooms.
Holds no patient data."""
