"""Portal sign-in (e-mail and password, then the second factor if the patient enrolled
one) and sign-up with the establishment's one-time code. Throttled like the staff sign-in."""

from __future__ import annotations

from django.contrib import auth, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from carnet.guard.actors import actor_for_request
from carnet.guard.http import client_ip, public_view
from carnet.patients.accounts import LinkThrottled, SignUp, sign_up
from carnet.staff import second_factor
from carnet.web.forms import TokenForm
from carnet.web.views.common import add_domain_errors

from ..forms import PortalSignInForm, SignUpForm

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/portal/") and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return target
    return ""


@public_view
def login_view(request: HttpRequest) -> HttpResponse:
    if actor_for_request(request) is not None:
        return redirect("portal:home")
    form = PortalSignInForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        auth.login(request, user)
        if second_factor.confirmed_device(user):
            return redirect("portal:verify")
        return redirect(_next_url(request) or "portal:home")
    return render(request, "portal/login.html", {"form": form, "next": _next_url(request)})


@public_view
def verify_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect("portal:login")
    device = second_factor.confirmed_device(user)
    if device is None:
        return redirect("portal:home")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        accepted, message = second_factor.attempt(
            user,
            device,
            form.cleaned_data["token"],
            request_id=request.request_id,
            client_ip=client_ip(request),
        )
        if accepted:
            otp_login(request, device)
            return redirect("portal:home")
        form.add_error("token", message)
    return render(request, "portal/verify.html", {"form": form})


@public_view
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("portal:login")


@public_view
def sign_up_view(request: HttpRequest) -> HttpResponse:
    if actor_for_request(request) is not None:
        return redirect("portal:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = sign_up(
                SignUp(
                    code=data["code"],
                    birth_date=data["birth_date"],
                    email=data["email"],
                    password=data["password"],
                ),
                client_ip=client_ip(request),
                request_id=request.request_id,
            )
        except LinkThrottled as error:
            return render(
                request,
                "portal/sign_up.html",
                {"form": form, "throttled": error.messages},
                status=429,
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            auth.login(request, user, backend=MODEL_BACKEND)
            messages.success(request, _("Your account is ready: welcome."))
            return redirect("portal:home")
    return render(request, "portal/sign_up.html", {"form": form})
