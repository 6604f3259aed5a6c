"""A notice to a staff member's own e-mail address that something waits for them in Carnet,
and where (a page of the staff site). The product's other messages go the same way; a notice
names no patient and carries nothing of what waits: an e-mail leaves the installation and sits
in mailboxes."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.utils.translation import override

from .models import User


def notify(user_id: int | None, path: str, compose: Callable[[str], tuple[str, str]]) -> None:
    """Sends `compose(link)` (subject, body), written in the installation's language, to the
    active account's address; nothing when it has none. A failure to send is not the act's
    failure: the page lists what waits either way."""
    address = (
        User.objects.filter(pk=user_id, is_active=True).values_list("email", flat=True).first()
        if user_id
        else None
    )
    if not address:
        return
    link = settings.CARNET_SITE_URL.rstrip("/") + path
    with override(settings.LANGUAGE_CODE):
        subject, body = compose(link)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=True)
