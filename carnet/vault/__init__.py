"""The vault: envelope encryption of patient data at rest, blind indexes, shredding.

It owns the key hierarchy (key-encryption keys outside the database, one data key per
patient) and never imports anything else of Carnet's. It opens a value only for an owner the
current opening scope admits; deciding who may is the guard's job, not the vault's.
"""
