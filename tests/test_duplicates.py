"""Duplicates and merges. The page finds a planted pair and not namesakes born another day,
nor twins, nor a record of another establishment; it shows a few pairs, cannot be paged, and
every record it shows is counted (a secretary walking it is stepped up, then contained, long
before the base). A merge moves every row of every app (sealed values sealed again with the
survivor's key) and undo gives back exactly what moved, within its limits; a merge by an
account outside the patients' establishments, or by a role without the capability, is refused."""

import datetime
import time

import pytest
import time_machine
from django.apps import apps
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.actors import Actor, system_actor
from carnet.guard.boundary import boundary, system_job
from carnet.guard.http import STEP_UP_SESSION_KEY
from carnet.guard.models import Alert, CareRelationship, Exposure
from carnet.guard.policy import Role
from carnet.patients import duplicates
from carnet.patients.merges import _relations
from carnet.patients.models import (
    ExternalIdentifier,
    IdentityMerge,
    MandatoryCoverage,
    MergeMove,
    Patient,
    PortalAccount,
)
from carnet.patients.models import (
    IdentityMerge as Merge,
)
from carnet.patients.selectors import SearchQuery, search_identities
from carnet.patients.services import _allocate_ipps, _identifier
from carnet.scheduling.models import Appointment
from carnet.staff.models import User
from carnet.vault import scope as vault_scope

from .factories import agenda_with_hours, make_patient
from .test_identity_pages import VALID_POST
from .test_portal import portal_client

BORN = datetime.date(1980, 5, 17)


def _page(client, **query):
    response = client.get(reverse("web:duplicates"), query)
    return response, response.context["outcome"] if response.status_code == 200 else None


def _ids(outcome):
    return [{pair.first.id, pair.second.id} for pair in outcome.pairs]


def test_a_planted_pair_is_found_and_namesakes_are_not(staff, establishment, other_establishment):
    first = make_patient(establishment)  # DURAND Marie Louise, 17/05/1980
    second = make_patient(establishment, birth_surname="DURANT", first_names="Marie")
    other_day = make_patient(establishment, birth_date=datetime.date(1975, 2, 3))
    next_day = make_patient(establishment, birth_date=datetime.date(1980, 5, 18))
    twin = make_patient(establishment, first_names="Sophie")
    elsewhere = make_patient(other_establishment)
    _user, desk = staff(Role.SECRETARY)

    response, outcome = _page(desk)
    assert response.status_code == 200
    assert _ids(outcome) == [{first, second}]
    html = response.content.decode()
    assert "close surnames" in html and "same first name" in html
    for unrelated in (other_day, next_day, twin, elsewhere):
        assert unrelated not in html
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert sorted(p.split(":")[0] for p in entry.patients.split()) == sorted([first, second])

    # From the record's page: a warning with a number, and the pairs of that record.
    detail = desk.get(reverse("web:patient_detail", args=[twin])).content.decode()
    assert "looks like this one" not in detail
    detail = desk.get(reverse("web:patient_detail", args=[first])).content.decode()
    assert "1 other record of your establishments looks like this one" in detail
    _response, focused = _page(desk, patient=first)
    assert _ids(focused) == [{first, second}]

    # Dismissed, the pair is not proposed again.
    desk.post(reverse("web:duplicates_dismiss"), {"first": first, "second": second})
    assert _page(desk)[1].pairs == ()


def test_a_used_surname_matching_a_birth_surname_is_found(staff, establishment):
    wife = make_patient(establishment, birth_surname="MARTIN", used_surname="DURAND")
    typed_wrong = make_patient(establishment, birth_surname="DURAND")
    _user, desk = staff(Role.SECRETARY)
    assert _ids(_page(desk)[1]) == [{wife, typed_wrong}]


def _pairs(establishment, count):
    planted = []
    for n in range(count):
        day = datetime.date(1950, 1, 1) + datetime.timedelta(days=400 * n)
        planted.append(
            {
                make_patient(establishment, birth_surname=f"PAIRE{chr(65 + n)}", birth_date=day),
                make_patient(establishment, birth_surname=f"PAIRE{chr(65 + n)}", birth_date=day),
            }
        )
    return planted


def test_the_page_cannot_be_paged_through_the_base(staff, establishment):
    planted = _pairs(establishment, 8)  # 16 records, more than the desk's hard limit
    user, desk = staff(Role.SECRETARY)
    _response, outcome = _page(desk)
    shown = _ids(outcome)
    assert len(shown) == duplicates.MAX_PAIRS and outcome.more
    assert all(pair in planted for pair in shown)
    # No paging: whatever is asked, the same few pairs.
    for query in ({"page": 2}, {"offset": 3}, {"start": 99}, {"patient": "not-an-id"}):
        assert _ids(_page(desk, **query)[1]) == shown

    seen: set[str] = set()
    stepped_up = contained = False
    for _round in range(10):
        response, outcome = _page(desk)
        if response.status_code == 302 and reverse("web:step_up") in response["Location"]:
            stepped_up = True
            session = desk.session
            session[STEP_UP_SESSION_KEY] = time.time() + 3600
            session.save()
            continue
        if response.status_code == 403:
            contained = True
            break
        for pair in _ids(outcome):
            seen |= pair
            first, second = sorted(pair)
            desk.post(reverse("web:duplicates_dismiss"), {"first": first, "second": second})
    assert stepped_up and contained
    # Stopped inside the desk's hourly hard limit, with records of the base never shown.
    assert len(seen) <= 15 < 16
    exposed = set(Exposure.objects.filter(user=user).values_list("patient_id", flat=True))
    assert {str(p) for p in exposed} == seen
    assert not User.objects.get(pk=user.pk).is_active
    assert Alert.objects.filter(account=user).exists()


def test_canaries_are_left_out(establishment, staff):
    actor = system_actor("tests")
    with system_job(actor, "tests.canary"):
        from carnet.patients.services import create_identity
        from tests.factories import IDENTITY

        create_identity(
            actor=actor, data={**IDENTITY, "canary": True}, establishment_id=establishment.pk
        )
    make_patient(establishment)
    user, desk = staff(Role.SECRETARY)
    response, outcome = _page(desk)
    assert response.status_code == 200 and outcome.pairs == ()
    assert User.objects.get(pk=user.pk).is_active


# --- Merging -------------------------------------------------------------------------------


def _opened(model, pk, *fields):
    """Plaintext of sealed values, read as the installation (tests only)."""
    with system_job(system_actor("tests"), "tests.read"):
        vault_scope.admit_everything()
        row = model._base_manager.get(pk=pk)
        return tuple(getattr(row, f) for f in fields)


def _snapshot(*patients):
    """Every row of every app that points to these patients, and the open relationships."""
    rows = set()
    for fk in _relations():
        for row in fk.model._base_manager.filter(**{f"{fk.attname}__in": patients}):
            kind = getattr(row, "kind", "")
            rows.add((fk.model._meta.label_lower, str(row.pk), str(getattr(row, fk.attname)), kind))
    for rel in CareRelationship.objects.filter(patient_id__in=patients, ends_at__isnull=True):
        rows.add(("guard.carerelationship", str(rel.pk), str(rel.patient_id), rel.kind))
    return rows


@pytest.fixture
def twins_of_one(establishment, other_establishment, staff):
    """The same person recorded twice at one establishment; the second record also known at
    another establishment, with an appointment, an insurance card, a clinical note, a
    treating doctor and a patient space account."""
    doctor, _doctor_client = staff(Role.PRACTITIONER)
    survivor = make_patient(establishment)
    merged = make_patient(
        establishment,
        birth_surname="DURANT",
        first_names="Marie",
        treating_doctor=doctor.practitioner,
    )
    actor = system_actor("tests")
    with system_job(actor, "tests.ipp"):
        vault_scope.admit_everything()
        patient = Patient.objects.get(pk=merged)
        (ipp,) = _allocate_ipps(other_establishment.pk, 1)
        _identifier(patient, other_establishment.pk, ipp).save()
    consultation = agenda_with_hours(establishment, doctor.practitioner)
    starts = datetime.datetime(2030, 1, 7, 9, tzinfo=datetime.UTC)
    appointment = Appointment.objects.create(
        agenda=consultation.agenda,
        consultation_type=consultation,
        patient_id=merged,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=30),
    )
    secretary, desk = staff(Role.SECRETARY)
    desk.post(
        reverse("web:patient_insurance_amo", args=[merged]),
        {"amo-scheme": "02", "amo-fund_code": "069", "amo-valid_from": "2024-01-01"},
    )
    with system_job(actor, "tests.note"):
        from carnet.clinical.models import Encounter, Note

        vault_scope.admit_everything()
        encounter = Encounter(
            patient_id=merged,
            establishment=establishment,
            kind="consultation",
            practitioner=doctor,
            started_at=starts,
            created_by=doctor,
        )
        encounter.reason = "Toux"
        encounter.save()
        note = Note(patient_id=merged, encounter=encounter, author=doctor, written_at=starts)
        note.text = "Auscultation normale"
        note.save()
    portal_client(establishment, merged)
    return {
        "survivor": survivor,
        "merged": merged,
        "doctor": doctor,
        "desk": desk,
        "secretary": secretary,
        "appointment": appointment,
        "note": note.pk,
        "other_ipp": ipp,
    }


def _merge(client, survivor, merged, reason="Same person: NIR checked on the Vitale card"):
    return client.post(
        reverse("web:merge"),
        {"first": survivor, "second": merged, "survivor": survivor, "reason": reason},
    )


def test_a_merge_moves_every_row_and_undo_gives_them_back_exactly(twins_of_one):
    case = twins_of_one
    desk, survivor, merged = case["desk"], case["survivor"], case["merged"]
    desk.post(
        reverse("web:patient_insurance_amo", args=[survivor]),
        {"amo-scheme": "01", "amo-fund_code": "691 0000", "amo-valid_from": "2025-01-01"},
    )
    before = _snapshot(survivor, merged)
    note_before = _opened(apps.get_model("clinical.note"), case["note"], "text")
    preview = desk.get(reverse("web:merge"), {"first": survivor, "second": merged})
    assert preview.status_code == 200 and "appointments" in preview.content.decode()

    response = _merge(desk, survivor, merged)
    assert response.status_code == 302, response.content.decode()[:3000]
    merge = IdentityMerge.objects.get()
    assert response["Location"] == reverse("web:merge_detail", args=[merge.pk])
    moved = _snapshot(survivor, merged)
    assert {row[2] for row in moved} == {survivor}
    assert {(r[0], r[1]) for r in moved} == {(r[0], r[1]) for r in before}
    assert MergeMove.objects.exclude(field="").count() == len([r for r in before if r[2] == merged])
    assert (
        Appointment.objects.get(pk=case["appointment"].pk).patient_id
        == Patient.objects.get(pk=survivor).pk
    )
    # Two IPPs at one establishment: the merged one is kept as a former IPP.
    kinds = sorted(
        ExternalIdentifier.objects.filter(patient_id=survivor).values_list("kind", flat=True)
    )
    assert kinds == ["IPP", "IPP", "IPP-M"]
    # Sealed rows of other apps open with the survivor's key now.
    assert _opened(apps.get_model("clinical.note"), case["note"], "text") == note_before
    # Both cards on the survivor: the newest is current, the merged record's is listed too.
    assert {c.patient_id for c in MandatoryCoverage.objects.all()} == {
        Patient.objects.get(pk=survivor).pk
    }
    insurance = desk.get(reverse("web:patient_insurance", args=[survivor]))
    assert insurance.context["sheet"].current_mandatory.fund_code == "6910000"
    assert [c.fund_code for c in insurance.context["sheet"].past] == ["069"]
    # The merged record stays, read-only, pointing to the survivor.
    gone = Patient.objects.get(pk=merged)
    assert str(gone.merged_into_id) == survivor
    page = desk.get(reverse("web:patient_detail", args=[merged])).content.decode()
    assert "This record was merged into another one" in page
    edit = desk.post(
        reverse("web:patient_edit", args=[merged]), {**VALID_POST, "version": str(gone.version)}
    )
    assert edit.status_code == 400 and "merged into another" in edit.content.decode()
    # Search finds the survivor, by name and by the merged record's IPP elsewhere.
    secretary = case["secretary"]
    actor = Actor(
        user_id=secretary.pk,
        username=secretary.username,
        role=Role.SECRETARY,
        establishment_ids=frozenset(
            secretary.memberships.values_list("establishment_id", flat=True)
        ),
    )
    with boundary(actor, "tests.search"):
        found = search_identities(actor=actor, query=SearchQuery(surname="DUR", birth_date=BORN))
    assert [row.id for row in found.rows] == [survivor]
    # The treating doctor of the merged record now reaches the survivor.
    assert CareRelationship.objects.filter(
        patient_id=survivor, user=case["doctor"], ends_at__isnull=True
    ).exists()
    # Full audit: both ids, who, why.
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.action == "identity.merge" and entry.actor_id == secretary.pk
    assert survivor in entry.patients and merged in entry.patients
    assert "NIR checked on the Vitale card" in entry.reason

    undo = desk.post(reverse("web:merge_undo", args=[merge.pk]), {"reason": "Two sisters"})
    assert undo.status_code == 302
    assert _snapshot(survivor, merged) == before
    assert _opened(apps.get_model("clinical.note"), case["note"], "text") == note_before
    assert Patient.objects.get(pk=merged).merged_into_id is None
    assert PortalAccount.objects.get().patient_id == Patient.objects.get(pk=merged).pk
    merge.refresh_from_db()
    assert merge.undone_at is not None and merge.undone_by_id == secretary.pk
    assert AuditEntry.objects.filter(action="identity.merge_undo", outcome="allowed").exists()


def test_undo_is_refused_once_the_survivor_changed_or_too_late(twins_of_one):
    case = twins_of_one
    desk, survivor, merged = case["desk"], case["survivor"], case["merged"]
    assert _merge(desk, survivor, merged).status_code == 302
    merge = Merge.objects.get()
    after_merge = _snapshot(survivor, merged)
    version = Patient.objects.get(pk=survivor).version
    edited = desk.post(
        reverse("web:patient_edit", args=[survivor]),
        {**VALID_POST, "city": "Bron", "version": str(version)},
    )
    assert edited.status_code == 302
    desk.post(reverse("web:merge_undo", args=[merge.pk]), {"reason": "Two sisters"})
    assert _snapshot(survivor, merged) == after_merge
    assert Merge.objects.get().undone_at is None
    page = desk.get(reverse("web:merge_detail", args=[merge.pk])).content.decode()
    assert "changed since the merge" in page


def test_undo_is_refused_after_its_days(twins_of_one):
    case = twins_of_one
    assert _merge(case["desk"], case["survivor"], case["merged"]).status_code == 302
    merge = Merge.objects.get()
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=8)
    with time_machine.travel(later):
        case["desk"].post(reverse("web:merge_undo", args=[merge.pk]), {"reason": "late"})
    assert Merge.objects.get().undone_at is None


def test_a_merge_from_outside_the_establishments_is_refused(
    twins_of_one, staff, other_establishment, establishment
):
    case = twins_of_one
    before = _snapshot(case["survivor"], case["merged"])
    # Another establishment knows the merged record, not the survivor.
    _user, outsider = staff(Role.SECRETARY, at=other_establishment)
    assert _merge(outsider, case["survivor"], case["merged"]).status_code == 404
    # A role without the capability, even in care.
    doctor_client = staff(Role.PRACTITIONER)[1]
    assert _merge(doctor_client, case["survivor"], case["merged"]).status_code == 403
    assert not IdentityMerge.objects.exists()
    assert _snapshot(case["survivor"], case["merged"]) == before
    refused = AuditEntry.objects.filter(action="identity.merge", outcome="refused")
    assert refused.count() == 2


def test_a_merge_needs_a_reason_and_two_open_records(twins_of_one):
    case = twins_of_one
    desk, survivor, merged = case["desk"], case["survivor"], case["merged"]
    assert _merge(desk, survivor, merged, reason="").status_code == 400
    same = _merge(desk, survivor, survivor)
    assert same.status_code == 302 and same["Location"] == reverse("web:duplicates")
    Patient.objects.filter(pk=merged).update(deceased=True)
    refused = _merge(desk, survivor, merged)
    assert refused.status_code == 400 and "read-only" in refused.content.decode()
    assert not IdentityMerge.objects.exists()


def test_every_foreign_key_to_a_patient_is_moved_by_a_merge():
    """A new app's foreign key to Patient is moved without a line in merges.py: the walk
    sees every one, hidden reverse names included."""
    machinery = {"patients.patient", "patients.identitymerge", "patients.mergemove"}
    expected = {
        (model._meta.label_lower, field.attname)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.is_relation
        and field.related_model is Patient
        and model._meta.label_lower not in machinery
    }
    walked = {(fk.model._meta.label_lower, fk.attname) for fk in _relations()}
    assert expected == walked
    assert ("clinical.note", "patient_id") in walked and (
        "scheduling.appointment",
        "patient_id",
    ) in walked
