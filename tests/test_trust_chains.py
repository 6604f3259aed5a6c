"""No chain of one person's acts reaches patient data. An administrator, alone, chains the
standard functions over HTTP (create accounts, try to sign in as them, make a security
officer, approve through it, move memberships, set up a service account, change his own
role); every change waits for an independent, approved security officer, and the patients
exposed to him and to every account he set up stay at zero."""

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from carnet.api import clients
from carnet.audit.models import AuditEntry
from carnet.guard.models import AccessChange, ChangeStatus, Exposure
from carnet.guard.policy import Role
from carnet.organisations.models import Unit
from carnet.staff.models import User

from .clinical_helpers import admission, member
from .conftest import signed_in_client
from .factories import UserFactory, make_patient, officer_account, totp_code

pytestmark = pytest.mark.django_db
SURNAME = "CONFIDENTIELLE"


@pytest.fixture
def admin(establishment):
    user = UserFactory(role=Role.ADMINISTRATOR, establishments=[establishment])
    return user, signed_in_client(user)


@pytest.fixture
def officer(establishment):
    """The installation's security officer, made by the operator: independent of the admin."""
    user = officer_account(establishment)
    return user, signed_in_client(user)


@pytest.fixture
def desk_patients(establishment):
    return [make_patient(establishment, birth_surname=f"{SURNAME}{n}") for n in range(5)]


def _ask_account(client, establishment, username, role, email, **extra):
    return client.post(
        reverse("web:account_create"),
        {
            "username": username,
            "first_name": "Prénom",
            "last_name": username.upper(),
            "email": email,
            "role": role,
            "establishment": establishment.pk,
            **extra,
        },
    )


def _approve(officer, change):
    user, client = officer
    return client.post(
        reverse("web:security_decide", args=[change.pk]),
        {"decision": "approve", "token": totp_code(user)},
    )


def _sees_patients(client) -> bool:
    """Whether anything this client can reach shows a patient of the desk."""
    pages = [
        client.get(reverse("web:dashboard")),
        client.get(reverse("web:desk")),
        client.post(
            reverse("web:patient_search"), {"surname": SURNAME[:3], "birth_date": "1980-05-17"}
        ),
    ]
    return any(SURNAME in page.content.decode(errors="replace") for page in pages)


def test_an_administrator_alone_reaches_no_patient_through_any_chain(
    admin, officer, establishment, desk_patients
):
    admin_user, admin_client = admin
    # 1. He asks for a secretary with his own address: refused, each person has their own.
    assert _ask_account(
        admin_client, establishment, "sec.fantome", Role.SECRETARY, admin_user.email or "a@x.fr"
    ).status_code in (200, 400, 302)
    UserFactory(username="someone.else", email="taken@example.fr")
    refused = _ask_account(
        admin_client, establishment, "sec.fantome2", Role.SECRETARY, "taken@example.fr"
    )
    assert refused.status_code == 400 and not User.objects.filter(username="sec.fantome2").exists()
    # 2. A secretary account asked for with a fresh address: no password exists to know,
    #    and a password alone would not set up a second factor anyway.
    assert (
        _ask_account(
            admin_client, establishment, "sec.fantome3", Role.SECRETARY, "fantome3@example.fr"
        ).status_code
        == 302
    )
    ghost = User.objects.get(username="sec.fantome3")
    assert not ghost.has_usable_password() and not ghost.access_approved
    assert (
        Client()
        .post(reverse("web:login"), {"username": "sec.fantome3", "password": "anything-at-all-1"})
        .status_code
        == 200
    )
    # Even signed in by other means, the unapproved account sees nobody.
    assert not _sees_patients(signed_in_client(ghost))
    # 3. A security officer of his own: not on offer, and refused when forced.
    form = admin_client.get(reverse("web:account_create")).content.decode()
    assert 'value="security_officer"' not in form
    forced = _ask_account(
        admin_client, establishment, "rssi.fantome", Role.SECURITY_OFFICER, "rssi@example.fr"
    )
    assert forced.status_code == 400 and not User.objects.filter(username="rssi.fantome").exists()
    role = admin_client.post(
        reverse("web:account_request", args=[ghost.pk, "role"]), {"role": Role.SECURITY_OFFICER}
    )
    assert role.status_code == 403
    # 4. His own role, his own budget: he cannot even ask.
    for kind, data in (
        ("role", {"role": Role.PRACTITIONER}),
        ("budget", {"window": "week", "soft": 4000, "hard": 5000}),
        ("membership", {"establishment": establishment.pk}),
    ):
        response = admin_client.post(
            reverse("web:account_request", args=[admin_user.pk, kind]), data
        )
        assert response.status_code == 403, kind
    assert not AccessChange.objects.filter(account=admin_user).exists()
    # 5. Nothing he asked took effect, and the administrator himself cannot decide.
    for change in AccessChange.objects.filter(status=ChangeStatus.PENDING):
        assert (
            admin_client.post(
                reverse("web:security_decide", args=[change.pk]), {"decision": "approve"}
            ).status_code
            == 403
        )
    assert not User.objects.filter(username="sec.fantome3", access_approved=True).exists()
    # 0 patients exposed to him or to any account he set up.
    his = [
        admin_user.pk,
        *AccessChange.objects.filter(requested_by=admin_user).values_list("account", flat=True),
    ]
    assert not Exposure.objects.filter(user_id__in=his).exists()
    assert not AuditEntry.objects.filter(actor_id__in=his).exclude(patients="").exists()
    assert not _sees_patients(admin_client)


def test_an_officer_the_administrator_set_up_never_approves_his_requests(
    admin, officer, establishment, django_capture_on_commit_callbacks
):
    """The administrator has an account made that later becomes a security officer (the
    operator asks, the real officer approves in good faith): it still cannot approve anything
    that administrator asks, nor anything about an account he set up."""
    admin_user, admin_client = admin
    _ask_account(admin_client, establishment, "inf.complice", Role.NURSE, "complice@example.fr")
    accomplice = User.objects.get(username="inf.complice")
    with django_capture_on_commit_callbacks(execute=True):
        _approve(officer, AccessChange.objects.get(account=accomplice))
    call_command("staff", "role", "--username", "inf.complice", "--role", Role.SECURITY_OFFICER)
    _approve(officer, AccessChange.objects.get(account=accomplice, status=ChangeStatus.PENDING))
    accomplice.refresh_from_db()
    assert accomplice.role == Role.SECURITY_OFFICER and accomplice.access_approved
    accomplice_officer = (accomplice, signed_in_client(accomplice))

    nurse = UserFactory(role=Role.NURSE, establishments=[establishment])
    admin_client.post(
        reverse("web:account_request", args=[nurse.pk, "budget"]),
        {"window": "week", "soft": 4000, "hard": 5000},
    )
    admin_client.post(reverse("web:account_request", args=[nurse.pk, "second-factor"]))
    for change in AccessChange.objects.filter(account=nurse, status=ChangeStatus.PENDING):
        assert _approve(accomplice_officer, change).status_code == 403
        assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.PENDING
    # The page says so before anyone tries.
    page = accomplice_officer[1].get(
        reverse("web:security_change", args=[AccessChange.objects.filter(account=nurse).first().pk])
    )
    assert "Another security officer must decide" in page.content.decode()
    # An administrator he set up asking for him: refused at the request already.
    _ask_account(admin_client, establishment, "admin.bis", Role.ADMINISTRATOR, "bis@example.fr")
    second_admin = User.objects.get(username="admin.bis")
    with django_capture_on_commit_callbacks(execute=True):
        _approve(officer, AccessChange.objects.get(account=second_admin))
    response = signed_in_client(second_admin).post(
        reverse("web:account_request", args=[admin_user.pk, "role"]), {"role": Role.PRACTITIONER}
    )
    assert response.status_code == 403
    assert User.objects.get(pk=admin_user.pk).role == Role.ADMINISTRATOR


def test_an_unapproved_security_officer_decides_nothing(officer, establishment):
    user = UserFactory(
        role=Role.SECURITY_OFFICER, establishments=[establishment], access_approved=False
    )
    client = signed_in_client(user)
    nurse = UserFactory(role=Role.NURSE, establishments=[establishment])
    change = AccessChange.objects.create(
        kind="budget_raise",
        account=nurse,
        payload={"limits": {"week": [100, 200]}},
        summary="raise",
        requested_by=UserFactory(role=Role.ADMINISTRATOR),
        requested_at=nurse.date_joined,
    )
    response = client.post(
        reverse("web:security_decide", args=[change.pk]),
        {"decision": "approve", "token": totp_code(user)},
    )
    assert response.status_code == 403
    assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.PENDING


def test_unapproved_accounts_read_nothing_through_any_relationship(establishment):
    """A desk window, a unit's admissions, a laboratory's orders come with a membership: none
    opens anything before the account is approved."""
    unit = Unit.objects.create(establishment=establishment, name="Cardiologie", code="CARD")
    doctor = member(Role.PRACTITIONER, establishment)
    patient = make_patient(establishment, birth_surname=SURNAME)
    admission(doctor, patient, unit)
    nurse = member(Role.NURSE, establishment, unit, access_approved=False)
    secretary = member(Role.SECRETARY, establishment, access_approved=False)
    technician = member(Role.LAB_TECHNICIAN, establishment, access_approved=False)
    for user, url in (
        (nurse, reverse("web:chart", args=[patient])),
        (nurse, reverse("web:patient_detail", args=[patient])),
        (secretary, reverse("web:patient_detail", args=[patient])),
        (secretary, reverse("web:desk")),
        (technician, reverse("web:lab")),
    ):
        response = signed_in_client(user).get(url)
        assert response.status_code == 403, (user.role, url)
        assert SURNAME not in response.content.decode()


def test_an_unapproved_service_account_reads_nothing_through_the_api(establishment):
    make_patient(establishment, birth_surname=SURNAME)
    service = UserFactory(
        role=Role.SECRETARY,
        establishments=[establishment],
        access_approved=False,
        username="svc.agenda",
    )
    registered = clients.register_backend(
        name="Agenda", account=service.username, scopes="system/Patient.rs", client_secret=True
    )
    token = Client().post(
        "/fhir/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_secret": registered.client_secret,
            "scope": "system/Patient.rs",
        },
    )
    if token.status_code == 200:
        access = token.json()["access_token"]
        found = Client().get(
            "/fhir/Patient",
            {"family": SURNAME, "birthdate": "1980-05-17"},
            HTTP_AUTHORIZATION=f"Bearer {access}",
        )
        assert found.status_code in (401, 403)
        assert SURNAME not in found.content.decode()
    else:
        assert token.status_code in (400, 401)


def test_the_enrolment_link_reaches_only_the_approved_address(
    admin, officer, establishment, django_capture_on_commit_callbacks
):
    _, admin_client = admin
    _ask_account(admin_client, establishment, "sec.nouvelle", Role.SECRETARY, "nouvelle@example.fr")
    account = User.objects.get(username="sec.nouvelle")
    assert not mail.outbox
    with django_capture_on_commit_callbacks(execute=True):
        _approve(officer, AccessChange.objects.get(account=account))
    assert [m.to for m in mail.outbox] == [["nouvelle@example.fr"]]
    assert "/enrol/?token=" in mail.outbox[0].body
    # The administrator's pages never show it.
    detail = admin_client.get(reverse("web:account_detail", args=[account.pk])).content.decode()
    token = mail.outbox[0].body.split("token=")[1].split()[0]
    assert token not in detail


def test_breaking_the_glass_beyond_ones_establishments_waits_for_approval(
    establishment, other_establishment, officer
):
    stranger = make_patient(other_establishment, birth_surname="LOINTAINE")
    doctor = member(Role.PRACTITIONER, establishment)
    client = signed_in_client(doctor)
    response = client.post(
        reverse("web:break_glass", args=[stranger]),
        {"reason": "emergency", "explanation": "Arrivée aux urgences", "token": totp_code(doctor)},
    )
    assert response.status_code == 302 and response["Location"] == reverse("web:dashboard")
    assert client.get(reverse("web:patient_detail", args=[stranger])).status_code == 404
    change = AccessChange.objects.get(account=doctor, status=ChangeStatus.PENDING)
    assert change.kind == "break_glass_outside"
    page = officer[1].get(reverse("web:security_change", args=[change.pk])).content.decode()
    assert stranger in page and "LOINTAINE" not in page
    _approve(officer, change)
    opened = client.get(reverse("web:patient_detail", args=[stranger]))
    assert opened.status_code == 200 and "LOINTAINE" in opened.content.decode()
