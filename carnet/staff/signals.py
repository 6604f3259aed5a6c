"""Sign-ins, sign-outs and failed attempts go to the audit log like any other access."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from carnet.audit.chain import Record, append
from carnet.audit.models import Outcome


def _record(request: Any, user: Any, action: str, outcome: str, username: str = "") -> None:
    append(
        Record(
            actor_id=getattr(user, "pk", None),
            actor=getattr(user, "username", "") or username or "anonymous",
            role=getattr(user, "role", "") or "anonymous",
            action=action,
            outcome=outcome,
            request_id=getattr(request, "request_id", "") or uuid.uuid4().hex,
            client_ip=(request.META.get("REMOTE_ADDR") if request is not None else None),
        )
    )


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _record(request, user, "auth.password", Outcome.ALLOWED)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        _record(request, user, "auth.logout", Outcome.ALLOWED)


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    _record(
        request, None, "auth.password", Outcome.REFUSED, str(credentials.get("username", ""))[:150]
    )
