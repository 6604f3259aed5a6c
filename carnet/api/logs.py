"""Logging that never writes a request's query string: a FHIR search carries its criteria
there (`Patient?identifier=<NIR>`, `family=...&birthdate=...`), and a server's request line
(runserver's, or any log record that quotes a URL) would otherwise keep them in clear in
log files, far from the database's sealing. Installed on the loggers in settings.LOGGING."""

from __future__ import annotations

import logging
import re

_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")


def redact(text: str) -> str:
    """A URL keeps its path; everything from `?` on becomes `?…`."""
    return _QUERY.sub(r"\1?…", text)


class DropQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True
