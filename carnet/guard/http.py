"""The guard at the HTTP edge: request ids, security headers, and the route rule.

Every view carries a route policy set by one of the decorators below; `RouteGuardMiddleware`
refuses any view without one, so a route added without a rule is closed, not open. Staff
views run inside a guarded boundary and a transaction: the audit entry commits with the work
of the response, and a refusal is recorded after the rollback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render, resolve_url

from carnet.vault.keys import Shredded

from .actors import Actor, actor_for_request
from .boundary import Contained, Refused, StepUp, boundary, record_refusal, require
from .policy import Capability, role_may

ROUTE_ATTRIBUTE = "guard_route"
View = Callable[..., HttpResponse]


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


# The methods Carnet answers; TRACE (which echoes a request back, cookies included), CONNECT
# and anything unknown are refused before any view.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class SessionRefreshMiddleware:
    """The idle timeout without a session write on every request: a session in use is saved
    (its expiry moved on) when it changed or when its last refresh is REFRESH_SECONDS old, so
    an idle session still ends within SESSION_COOKIE_AGE of the last request (at most
    REFRESH_SECONDS sooner, never later). Placed right after SessionMiddleware."""

    REFRESH_SECONDS = 60
    KEY = "_refreshed"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or not session.accessed or session.modified or session.is_empty():
            return response
        now = int(time.time())
        if now - int(session.get(self.KEY) or 0) >= self.REFRESH_SECONDS:
            session[self.KEY] = now
        return response


class MethodMiddleware:
    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in METHODS:
            return HttpResponseNotAllowed(METHODS)
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """Headers Django does not set itself. Pages are never cached: they may carry patients."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        )
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if not request.path.startswith(settings.STATIC_URL):
            response["Cache-Control"] = "no-store"
        return response


STEP_UP_SESSION_KEY = "carnet_step_up_until"
# A security officer who confirmed the second factor decides without typing it again for a few
# minutes (GitHub's "sudo mode"): a code is accepted once, and approvals come in series.
SECOND_FACTOR_SESSION_KEY = "carnet_second_factor_until"
SECOND_FACTOR_FRESH_SECONDS = 600


def confirm_second_factor(request: HttpRequest) -> None:
    request.session[SECOND_FACTOR_SESSION_KEY] = time.time() + SECOND_FACTOR_FRESH_SECONDS


def _in_portal(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.namespace == "portal"


def refusal_response(request: HttpRequest, refusal: Refused) -> HttpResponse:
    portal = _in_portal(request)
    base = {"portal": portal, "base_template": "portal/base.html" if portal else "web/base.html"}
    if isinstance(refusal, Contained):
        # The account is locked and its sessions are gone: this browser's too, and the page
        # that says so is drawn for nobody signed in.
        request.session.flush()
        request.user = AnonymousUser()
        request.__dict__.pop("_carnet_actor", None)
        return render(request, "guard/contained.html", base, status=403)
    if isinstance(refusal, StepUp):
        if request.method == "POST":
            # The user keeps their place: the confirmation appears where the answer would
            # have (the desk's booking panel, say), carrying what was posted, and replays it
            # once confirmed; the caller's details are not typed twice.
            return render(request, "web/step_up.html", step_up_context(request), status=200)
        target = resolve_url("web:step_up") + "?" + urlencode({"next": request.get_full_path()})
        if request.htmx:  # type: ignore[attr-defined]
            return HttpResponse(status=204, headers={"HX-Redirect": target})
        return redirect(target)
    status = 404 if refusal.not_found else 403
    offer = _break_glass_url(request) if refusal.not_found else ""
    context = {**base, "not_found": refusal.not_found, "break_glass_url": offer}
    return render(request, "guard/refused.html", context, status=status)


# Posted fields carried through the step-up page, under this prefix, to be posted again.
REPLAY_PREFIX = "replay__"


def step_up_context(request: HttpRequest) -> dict[str, Any]:
    """What the step-up form needs to send the user back where they were, with what they had
    posted (never the CSRF token: the page's own is used)."""
    from django.utils.http import url_has_allowed_host_and_scheme

    if (
        request.method == "POST"
        and request.resolver_match
        and (request.resolver_match.url_name != "step_up")
    ):
        next_url = request.get_full_path()
        fields = [
            (name, value)
            for name in request.POST
            if name != "csrfmiddlewaretoken"
            for value in request.POST.getlist(name)
        ]
    else:
        next_url = request.POST.get("next") or request.GET.get("next") or "/"
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
            next_url = "/"
        fields = [
            (name[len(REPLAY_PREFIX) :], value)
            for name in request.POST
            if name.startswith(REPLAY_PREFIX)
            for value in request.POST.getlist(name)
        ]
    target = request.headers.get("HX-Target") or request.POST.get("target", "")
    return {
        "next": next_url,
        "replay": [(REPLAY_PREFIX + name, value) for name, value in fields],
        "replay_fields": fields,
        "target": target if target.replace("-", "").replace("_", "").isalnum() else "",
        "partial": bool(request.htmx),  # type: ignore[attr-defined]
    }


def erased_response(request: HttpRequest) -> HttpResponse:
    portal = _in_portal(request)
    context = {"portal": portal, "base_template": "portal/base.html" if portal else "web/base.html"}
    return render(request, "guard/erased.html", context, status=410)


def _break_glass_url(request: HttpRequest) -> str:
    """On a patient page, roles that may break the glass are offered to (the same offer
    whether the patient exists or not, so it tells nothing)."""
    match = request.resolver_match
    actor = actor_for_request(request)
    if match is None or actor is None or "patient_id" not in match.kwargs:
        return ""
    if not role_may(actor.role, Capability.BREAK_GLASS):
        return ""
    return resolve_url("web:break_glass", patient_id=match.kwargs["patient_id"])


class RouteGuardMiddleware:
    """Deny by default: a view that declares no route policy is refused and recorded."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: View, args: Any, kwargs: Any) -> Any:
        if getattr(view, ROUTE_ATTRIBUTE, None):
            return None
        actor = actor_for_request(request) or anonymous_actor(request)
        refusal = Refused(f"route without a guard rule: {request.path}", not_found=True)
        return refusal_response(request, _recorded(actor, "route.unguarded", refusal))


def _recorded(actor: Actor, action: str, refusal: Refused) -> Refused:
    """Records the refusal; one refusal too many turns into containment."""
    try:
        record_refusal(actor, action, refusal)
    except Contained as contained:
        return contained
    return refusal


def anonymous_actor(request: HttpRequest) -> Actor:
    return Actor(
        user_id=None,
        username="anonymous",
        role="anonymous",
        request_id=getattr(request, "request_id", uuid.uuid4().hex),
        client_ip=client_ip(request),
    )


def public_view(view: View) -> View:
    """A page that never carries patient data (sign-in, language switch)."""
    setattr(view, ROUTE_ATTRIBUTE, "public")
    return view


def device_view(view: View) -> View:
    """A device page (waiting-room screen): its own token, no session, never patient data."""
    setattr(view, ROUTE_ATTRIBUTE, "device")
    return view


def outside_view(view: View) -> View:
    """A page for a practitioner outside the group, opened by a share's link and its code: no
    account; the view hands over only what the share holds, each opening audited."""
    setattr(view, ROUTE_ATTRIBUTE, "outside")
    return view


def staff_view(action: str, capability: Capability = Capability.USE_STAFF_PAGES) -> Callable:
    """A staff page: verified second factor, the role's capability, one guarded boundary."""
    return _guarded_view(action, capability, settings.LOGIN_URL)


def portal_view(action: str, capability: Capability = Capability.USE_PORTAL) -> Callable:
    """A patient portal page: a patient's account (and its second factor if it has one), the
    portal capability, one guarded boundary in which only the patient's own record opens."""
    return _guarded_view(action, capability, "portal:login")


def _guarded_view(action: str, capability: Capability, login_url: str) -> Callable:
    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            actor = actor_for_request(request)
            if actor is None:
                return redirect_to_login(request.get_full_path(), resolve_url(login_url))
            try:
                with transaction.atomic(), boundary(actor, action):
                    require(actor, capability)
                    response = view(request, *args, **kwargs)
                    if hasattr(response, "render") and not response.is_rendered:
                        response.render()
                return response
            except Refused as refusal:
                return refusal_response(request, _recorded(actor, action, refusal))
            except Shredded:
                # Past its retention term the record's key was destroyed: a tombstone is all
                # that is left, and the request that reached it is rolled back like any other.
                return erased_response(request)

        setattr(guarded, ROUTE_ATTRIBUTE, action)
        return guarded

    return decorate
