"""Staff identity pages: create, open, edit, field errors, nothing half-saved, and the
outsider refused (another establishment, or a role without the capability)."""

import re

import pytest
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.policy import Role
from carnet.patients.models import Patient

from .factories import IDENTITY, make_patient


def _without_tokens(content: bytes) -> str:
    """A page with its per-request CSRF tokens blanked, to compare two answers."""
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1", content.decode())


VALID_POST = {
    **{k: v for k, v in IDENTITY.items() if v is not None},
    "birth_date": "1980-05-17",
    "treating_doctor": "",
}


def test_secretary_creates_an_identity_and_sees_it(staff):
    user, client = staff(Role.SECRETARY)
    response = client.post(reverse("web:patient_create"), VALID_POST)
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "DURAND" in page and "Marie Louise" in page and "+33612345678" in page
    assert Patient.objects.count() == 1
    entry = AuditEntry.objects.filter(action="patients.create").get()
    assert entry.outcome == "allowed" and entry.patients == f"{Patient.objects.get().id}:created"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nir", "2800569123045 00", "NIR key"),
        ("nir", "12345", "13 characters"),
        ("postal_code", "6900", "5 digits"),
        ("phone", "12-34", "French number"),
        ("birth_date", "2999-01-01", "future"),
        ("birthplace_code", "7A123", "INSEE"),
        ("birth_surname", "DUR4ND", "letters"),
        ("email", "not-an-email", "valid email"),
        ("birth_surname", "", "required"),
    ],
)
def test_invalid_values_get_field_errors_and_nothing_is_saved(staff, field, value, message):
    user, client = staff(Role.SECRETARY)
    client.cookies.load({"django_language": "en"})
    response = client.post(
        reverse("web:patient_create"), {**VALID_POST, field: value}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["form"].errors[field]
    assert Patient.objects.count() == 0


def test_nir_must_match_the_ins_traits(staff):
    user, client = staff(Role.SECRETARY)
    # Valid key, but the first digit says "male" while the sex is F.
    nir = "1800569123045"
    from stdnum.fr import nir as stdnum_nir

    response = client.post(
        reverse("web:patient_create"),
        {**VALID_POST, "nir": nir + stdnum_nir.calc_check_digits(nir)},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "first digit does not match the sex" in response.content.decode()
    assert Patient.objects.count() == 0


def test_a_qualified_identity_needs_a_nir(staff):
    user, client = staff(Role.SECRETARY)
    response = client.post(
        reverse("web:patient_create"),
        {**VALID_POST, "status": "qualified"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "A retrieved or qualified identity needs its INS (the NIR)" in response.content.decode()


@pytest.mark.parametrize("status", ["validated", "qualified"])
def test_a_validated_identity_names_the_document_checked(staff, status):
    """RNIV: validating an identity means checking a high-trust document, and saying which."""
    user, client = staff(Role.SECRETARY)
    response = client.post(
        reverse("web:patient_create"), {**VALID_POST, "status": status}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "Say which document you checked" in response.content.decode()


def test_the_status_history_says_who_and_on_which_document(staff):
    from carnet.patients.models import IdentityStatusChange, Patient

    user, client = staff(Role.SECRETARY)
    created = client.post(reverse("web:patient_create"), VALID_POST)
    assert created.status_code == 302
    patient = Patient.objects.get()
    edited = client.post(
        reverse("web:patient_edit", args=[patient.pk]),
        {**VALID_POST, "status": "validated", "document": "passport", "version": patient.version},
    )
    assert edited.status_code == 302
    change = IdentityStatusChange.objects.filter(patient=patient).latest("changed_at")
    assert (change.from_status, change.to_status, change.document) == (
        "provisional",
        "validated",
        "passport",
    )
    assert change.changed_by == user.pk
    page = client.get(reverse("web:patient_detail", args=[patient.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Passport" in page.content.decode()


def test_a_nir_already_recorded_is_refused(staff, establishment):
    from stdnum.fr import nir as stdnum_nir

    body = "2800569123045"
    nir = body + stdnum_nir.calc_check_digits(body)
    make_patient(establishment, nir=nir, status="qualified")
    user, client = staff(Role.SECRETARY)
    response = client.post(
        reverse("web:patient_create"), {**VALID_POST, "nir": nir}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "already recorded" in response.content.decode()
    assert Patient.objects.count() == 1


def test_edit_saves_and_bumps_the_version(staff, patient):
    user, client = staff(Role.SECRETARY)
    url = reverse("web:patient_edit", args=[patient])
    form = client.get(url)
    assert form.status_code == 200
    response = client.post(url, {**VALID_POST, "city": "Villeurbanne", "version": "1"})
    assert response.status_code == 302
    assert "Villeurbanne" in client.get(response["Location"]).content.decode()


def test_edit_from_a_stale_form_is_refused_and_loses_nothing(staff, patient):
    user, client = staff(Role.SECRETARY)
    url = reverse("web:patient_edit", args=[patient])
    assert client.post(url, {**VALID_POST, "city": "Bron", "version": "1"}).status_code == 302
    stale = client.post(
        url, {**VALID_POST, "city": "Vienne", "version": "1"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert stale.status_code == 400
    assert "Someone changed this identity" in stale.content.decode()
    page = client.get(reverse("web:patient_detail", args=[patient])).content.decode()
    assert "Bron" in page and "Vienne" not in page


def test_outsider_from_another_establishment_gets_the_same_404_as_a_missing_patient(
    staff, patient, other_establishment
):
    user, client = staff(Role.SECRETARY, at=other_establishment)
    refused = client.get(reverse("web:patient_detail", args=[patient]))
    missing = client.get(
        reverse("web:patient_detail", args=["00000000-0000-4000-8000-000000000000"])
    )
    assert refused.status_code == missing.status_code == 404
    missing_id = "00000000-0000-4000-8000-000000000000"
    assert _without_tokens(refused.content).replace(patient, "ID") == _without_tokens(
        missing.content
    ).replace(missing_id, "ID")
    assert "DURAND" not in refused.content.decode()
    entry = AuditEntry.objects.filter(action="patients.view", outcome="refused").first()
    assert entry is not None and entry.patients == patient


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.SECURITY_OFFICER])
def test_roles_without_patient_access_are_refused_everywhere(staff, patient, role):
    user, client = staff(role)
    searched = client.post(
        reverse("web:patient_search"), {"surname": "DUR", "birth_date": "1980-05-17"}
    )
    assert searched.status_code == 403
    for url in (
        reverse("web:patient_detail", args=[patient]),
        reverse("web:patient_edit", args=[patient]),
        reverse("web:patient_create"),
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "DURAND" not in response.content.decode()


def test_practitioner_may_read_but_not_create_or_edit(staff, patient):
    user, client = staff(Role.PRACTITIONER)
    assert client.get(reverse("web:patient_detail", args=[patient])).status_code == 200
    assert client.get(reverse("web:patient_create")).status_code == 403
    assert client.post(reverse("web:patient_edit", args=[patient]), VALID_POST).status_code == 403
