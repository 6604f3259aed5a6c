"""Staff and patient passwords: Argon2id at OWASP's first recommended setting (19 MiB, two
passes, one lane), which verifies in a few tens of milliseconds on two cores instead of
Django's default 100 MiB and eight lanes, and at most SLOTS hashings at once in a process, so a
flood of sign-ins waits its turn instead of taking 19 MiB each until memory runs out. Hashes
made with other parameters are verified as they are and rewritten at the next sign-in (Django's
`must_update`)."""

from __future__ import annotations

import threading

from django.contrib.auth.hashers import Argon2PasswordHasher

# Hashings at once in one process: memory for them is bounded by SLOTS x memory_cost.
SLOTS = 4
_slots = threading.BoundedSemaphore(SLOTS)


class BoundedArgon2Hasher(Argon2PasswordHasher):
    """Keeps Django's algorithm name ("argon2"): stored hashes stay readable by the stock
    hasher, and the parameters travel inside each hash."""

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1

    def encode(self, password: str, salt: str) -> str:
        with _slots:
            return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        with _slots:
            return super().verify(password, encoded)
