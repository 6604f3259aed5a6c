"""Ending an account's API access: its tokens (and those of the backend services it is the
service account of) are revoked when the guard contains it."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken


def revoke_account(user_id: int) -> int:
    """Revokes every access and refresh token and pending grant of the account, and of the
    backend services acting as it. Returns the number of access tokens revoked."""
    mine = Q(user_id=user_id) | Q(application__smart__service_account_id=user_id)
    now = timezone.now()
    RefreshToken.objects.filter(mine, revoked__isnull=True).update(revoked=now, updated=now)
    Grant.objects.filter(user_id=user_id).delete()
    _, deleted = AccessToken.objects.filter(mine).delete()
    return deleted.get(AccessToken._meta.label, 0)
