"""Administrators manage accounts and never read patients. Every change that would grant
access (new account, role, membership, second-factor reset, budget raise) is a request that a
security officer approves in the console."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from carnet.guard import approvals
from carnet.guard.http import staff_view
from carnet.guard.models import Window
from carnet.guard.policy import Capability, Role
from carnet.organisations.models import Establishment, Unit
from carnet.staff import selectors, services

from .common import add_domain_errors, signed_in_actor

# Security officers are asked for by the installation's operator (`carnet staff`), never by
# an administrator.
STAFF_ROLES = [
    (value, label)
    for value, label in Role.choices
    if value not in (Role.PATIENT, Role.SCREEN, Role.SECURITY_OFFICER)
]


class AccountForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("Username"), max_length=150, validators=[UnicodeUsernameValidator()]
    )
    first_name = forms.CharField(label=gettext_lazy("First name"), max_length=150)
    last_name = forms.CharField(label=gettext_lazy("Last name"), max_length=150)
    email = forms.EmailField(
        label=gettext_lazy("Professional e-mail (the enrolment link is sent there)")
    )
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=[("", "—"), *STAFF_ROLES])
    establishment = forms.ModelChoiceField(
        label=gettext_lazy("Establishment"), queryset=Establishment.objects.order_by("name")
    )
    unit = forms.ModelChoiceField(
        label=gettext_lazy("Unit"), queryset=Unit.objects.order_by("name"), required=False
    )
    rpps = forms.CharField(label="RPPS", max_length=11, required=False)
    specialty = forms.CharField(label=gettext_lazy("Specialty"), max_length=100, required=False)


class MembershipForm(forms.Form):
    establishment = forms.ModelChoiceField(
        label=gettext_lazy("Establishment"), queryset=Establishment.objects.order_by("name")
    )
    unit = forms.ModelChoiceField(
        label=gettext_lazy("Unit"), queryset=Unit.objects.order_by("name"), required=False
    )


class BudgetForm(forms.Form):
    window = forms.ChoiceField(
        label=gettext_lazy("Window"),
        choices=Window.choices,
    )
    soft = forms.IntegerField(label=gettext_lazy("Soft limit"), min_value=0, max_value=10000)
    hard = forms.IntegerField(label=gettext_lazy("Hard limit"), min_value=0, max_value=10000)


@staff_view("accounts.list", Capability.MANAGE_ACCOUNTS)
def account_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/accounts/list.html",
        {
            "accounts": selectors.accounts(actor=signed_in_actor(request)),
            "pending": approvals.pending(),
        },
    )


@staff_view("accounts.create", Capability.MANAGE_ACCOUNTS)
def account_create(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        establishment = data.pop("establishment")
        try:
            services.request_account(
                actor=signed_in_actor(request), establishments=[establishment], **data
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Account asked for. Once a security officer approves it, its owner receives "
                    "a link by e-mail to choose the password and set up the second factor."
                ),
            )
            return redirect("web:accounts")
    return render(
        request, "web/accounts/form.html", {"form": form}, status=400 if form.errors else 200
    )


@staff_view("accounts.detail", Capability.MANAGE_ACCOUNTS)
def account_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    user = selectors.account(actor=signed_in_actor(request), user_id=user_id)
    return render(
        request,
        "web/accounts/detail.html",
        {
            "account": user,
            "roles": STAFF_ROLES,
            "membership_form": MembershipForm(),
            "budget_form": BudgetForm(),
            "pending": approvals.pending().filter(account=user),
        },
    )


@staff_view("accounts.request_change", Capability.MANAGE_ACCOUNTS)
@require_POST
def account_request(request: HttpRequest, user_id: int, kind: str) -> HttpResponse:
    actor = signed_in_actor(request)
    user = selectors.account(actor=actor, user_id=user_id)
    try:
        if kind == "role":
            services.request_role(actor=actor, user=user, role=request.POST.get("role", ""))
        elif kind == "membership":
            form = MembershipForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Choose an establishment."))
            services.request_membership(actor=actor, user=user, **form.cleaned_data)
        elif kind == "second-factor":
            services.request_second_factor_reset(actor=actor, user=user)
        elif kind == "enrolment-link":
            services.resend_link(actor=actor, user=user)
        elif kind == "budget":
            form = BudgetForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Give a window and two limits, soft not above hard."))
            data = form.cleaned_data
            services.request_budget_raise(
                actor=actor, user=user, limits={data["window"]: (data["soft"], data["hard"])}
            )
        else:
            raise ValidationError(_("Unknown change."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if kind == "enrolment-link":
            messages.success(request, _("A new enrolment link was sent to the account's e-mail."))
        else:
            messages.success(request, _("Request sent to the security officers for approval."))
    return redirect("web:account_detail", user_id=user.pk)
