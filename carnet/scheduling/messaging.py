"""SMS backends, chosen like Django's e-mail backends by a dotted path (`CARNET_SMS_BACKEND`):
console for the demo, locmem for tests, disabled by default in production until an operator's
gateway is configured. A backend only carries text it is given; it never reads patient data."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TextIO

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_BACKEND = "carnet.scheduling.messaging.ConsoleSmsBackend"


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str


class SmsNotConfigured(Exception):
    """No SMS gateway is configured for this installation."""


class BaseSmsBackend:
    """Subclasses send what they can and return how many messages were accepted; unless
    `fail_silently`, a failure raises."""

    def __init__(self, *, fail_silently: bool = False, **kwargs: Any) -> None:
        self.fail_silently = fail_silently

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Writes each message to a stream (standard output), as Django's console e-mail backend."""

    def __init__(self, *, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        with self._lock:
            for message in messages:
                self.stream.write(f"SMS to: {message.to}\n{message.body}\n{'-' * 79}\n")
            self.stream.flush()
        return len(messages)


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps messages in `LocmemSmsBackend.outbox` (tests empty it)."""

    outbox: ClassVar[list[SmsMessage]] = []

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        LocmemSmsBackend.outbox.extend(messages)
        return len(messages)


class DisabledSmsBackend(BaseSmsBackend):
    """Production's default: sends nothing, so that phone numbers never end up in logs by a
    console backend left in place; every SMS is recorded as failed until one is configured."""

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        if messages and not self.fail_silently:
            raise SmsNotConfigured("set CARNET_SMS_BACKEND to an SMS gateway backend")
        return 0


def get_sms_backend(path: str | None = None, **kwargs: Any) -> BaseSmsBackend:
    backend = import_string(path or getattr(settings, "CARNET_SMS_BACKEND", DEFAULT_BACKEND))
    return backend(**kwargs)
