"""Template context: what the signed-in staff member's role lets the navigation show."""

from typing import Any

from django.http import HttpRequest

from carnet.guard.actors import actor_for_request
from carnet.guard.policy import Capability, Role, role_may


def navigation(request: HttpRequest) -> dict[str, Any]:
    actor = actor_for_request(request)
    if actor is None:
        return {"actor": None}
    return {
        "actor": actor,
        "actor_role_label": Role(actor.role).label if actor.role in Role.values else actor.role,
        "can_search": role_may(actor.role, Capability.SEARCH_IDENTITY),
        "can_create": role_may(actor.role, Capability.CREATE_IDENTITY),
        "can_edit": role_may(actor.role, Capability.EDIT_IDENTITY),
        "can_console": role_may(actor.role, Capability.SECURITY_CONSOLE),
        "can_manage_accounts": role_may(actor.role, Capability.MANAGE_ACCOUNTS),
        "can_export": role_may(actor.role, Capability.REQUEST_EXPORT),
        "can_book": role_may(actor.role, Capability.BOOK_APPOINTMENT),
        "can_view_clinical": role_may(actor.role, Capability.VIEW_CLINICAL),
        "can_order_lab": role_may(actor.role, Capability.ORDER_LAB),
        "can_lab": role_may(actor.role, Capability.LAB_WORK),
        "can_merge": role_may(actor.role, Capability.MERGE_IDENTITIES),
        "can_share_outside": role_may(actor.role, Capability.SHARE_OUTSIDE),
    }
