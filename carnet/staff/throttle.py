"""Sign-in throttling: a few wrong passwords lock the account (from any address), and a much
higher bar of wrong passwords from one address blocks that address for a while (password
spraying across many accounts). A hospital's staff often share one outgoing address behind
its proxy: a few colleagues' typos must not block everyone there."""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum


class SignInThrottle(AxesDatabaseHandler):
    """django-axes with `AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]` and one failure
    limit per account; the address's count is scaled so that it reaches that limit only at
    `CARNET_LOGIN_ADDRESS_LIMIT` failures."""

    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        by_account, by_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        limit = get_failure_limit(request, credentials)
        address_limit = max(settings.CARNET_LOGIN_ADDRESS_LIMIT, limit)
        return max(by_account, by_address * limit // address_limit)
