"""The error a FHIR client can cause, answered with an OperationOutcome (carnet/api/run.py)."""

from __future__ import annotations


class ApiError(Exception):
    """An error a client can cause: answered with an OperationOutcome of this status."""

    def __init__(self, status: int, code: str, diagnostics: str, **headers: str) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.headers = headers
