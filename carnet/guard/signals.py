"""The guard keeps track of each account's sessions so containment can end all of them."""

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .models import TrackedSession


@receiver(user_logged_in)
def _track_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    if request.session.session_key is None:
        request.session.save()
    TrackedSession.objects.get_or_create(
        session_key=request.session.session_key, defaults={"user": user}
    )
