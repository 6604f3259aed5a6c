"""Patients: identities with the INS traits, NIR, contacts, treating doctor and external
identifiers (IPP). Every identifying value is sealed; reads and writes go through the guard
in `services` and `selectors`, never straight to the models."""
