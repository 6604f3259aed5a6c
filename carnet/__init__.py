"""Carnet: patient records and appointments behind one door (the guard), sealed at rest
(the vault) and recorded in a tamper-evident log (the audit)."""
