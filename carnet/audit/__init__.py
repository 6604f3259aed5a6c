"""The audit log: append-only, hash-chained (keyed), written in the transaction of the access
it records. It never holds a patient's identifying data, only ids, and it never lets a row be
changed or removed (database triggers refuse UPDATE and DELETE)."""
