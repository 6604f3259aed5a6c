"""From order to validated result: accession numbers, tubes, values typed at the bench and
their flags against the patient's reference range, four eyes on every validation (the same
account is refused, by the service and by the database), a validated result that no longer
changes, and the blood group kept as a result of its LOINC code."""

import datetime
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from carnet.guard.models import CareRelationship, RelationshipKind
from carnet.guard.relationships import relate
from carnet.laboratory import catalogue
from carnet.laboratory.apps import last_collections
from carnet.laboratory.models import LabOrder, LabResult, LabTest, OrderStatus, Specimen
from carnet.laboratory.selectors import FOLLOW_UP_DAYS, order_sheet, patient_results
from carnet.laboratory.services import ORDER_OPEN_DAYS, enter_results, validate_results
from carnet.laboratory.values import Flag, flag_for, parse_value, reference_for
from carnet.patients import retention

from .factories import make_patient
from .laboratory_fixtures import acting, make_lab

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(establishment):
    return make_lab(establishment)


HB, K, GLU, HIV, GROUP = "718-7", "2823-3", "2345-7", "56888-1", "882-1"


def test_the_catalogue_is_loaded_with_real_codes_ranges_and_categories():
    LabTest.objects.all().delete()
    assert catalogue.load(LabTest) == LabTest.objects.count() >= 40
    assert catalogue.load(LabTest) == LabTest.objects.count()
    haemoglobin = LabTest.objects.get(loinc=HB)
    assert (haemoglobin.unit, haemoglobin.name_fr) == ("g/dL", "Hémoglobine")
    assert haemoglobin.range_for("F") != haemoglobin.range_for("M")
    group = LabTest.objects.get(loinc=GROUP)
    assert group.result_type == "coded"
    assert {a["code"] for a in group.answers} == {"A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"}
    serologies = set(
        LabTest.objects.filter(sensitive_category="serology").values_list("loinc", flat=True)
    )
    assert {HIV, "5196-1", "13955-0", "24110-9"} <= serologies
    assert not LabTest.objects.get(loinc=K).sensitive_category


def test_accession_numbers_follow_each_other_within_a_laboratory(lab):
    first, second = lab.order(HB), lab.order(K)
    year = timezone.localdate().year % 100
    assert first.accession == f"{year:02d}-000001"
    assert second.accession == f"{year:02d}-000002"


def test_collection_labels_one_tube_per_kind_of_specimen(lab):
    order = lab.order(HB, K, GLU, HIV, GROUP)
    lab.collect(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_PROGRESS
    tubes = {s.kind: s.barcode for s in Specimen.objects.filter(order=order)}
    assert set(tubes) == {"blood_edta", "plasma_heparin", "plasma_fluoride", "serum"}
    assert sorted(tubes.values()) == [f"{order.accession}-{n}" for n in range(1, 5)]
    with pytest.raises(ValidationError):
        lab.collect(order)


def test_results_wait_for_collection(lab):
    order = lab.order(HB)
    with pytest.raises(ValidationError, match="Collect the specimens"):
        lab.enter(order, {HB: "12"})
    assert not LabResult.objects.exists()


@pytest.mark.parametrize(
    ("sex", "typed", "stored", "flag"),
    [
        ("F", "12,5", "12.5", Flag.NONE),
        ("M", "12,5", "12.5", Flag.LOW),  # the man's range starts at 13
        ("F", "6.2", "6.2", Flag.CRITICAL_LOW),
        ("F", "16.8", "16.8", Flag.HIGH),
        ("M", "21", "21", Flag.CRITICAL_HIGH),
    ],
)
def test_a_value_is_flagged_against_the_range_of_the_patients_sex(
    lab, establishment, sex, typed, stored, flag
):
    lab.patient = make_patient(establishment, sex=sex)
    relate(patient_id=lab.patient, kind="treating_doctor", user_id=lab.practitioner.pk)
    order = lab.order(HB)
    lab.collect(order)
    lab.enter(order, {HB: typed})
    with acting(lab.tech_b) as actor:
        line = order_sheet(actor=actor, order_id=order.pk).lines[0]
    assert (line.value, line.flag) == (stored, flag)


def test_coded_answers_are_flagged_when_not_normal():
    hiv = LabTest.objects.get(loinc=HIV)
    reference = reference_for(hiv, "F")
    assert flag_for("coded", "negative", reference) == Flag.NONE
    assert flag_for("coded", "positive", reference) == Flag.ABNORMAL
    group = LabTest.objects.get(loinc=GROUP)
    assert flag_for("coded", "O-", reference_for(group, "F")) == Flag.NONE
    with pytest.raises(ValidationError):
        parse_value(hiv, "maybe")


def test_a_wrong_value_saves_nothing(lab):
    order = lab.order(HB, K)
    lab.collect(order)
    with pytest.raises(ValidationError) as refused:
        lab.enter(order, {HB: "13.1", K: "4,x"})
    assert list(refused.value.message_dict) == [f"value_{order.items.get(test__loinc=K).pk}"]
    with pytest.raises(ValidationError):
        lab.enter(order, {HB: "-1"})
    assert not LabResult.objects.exists()


def test_the_account_that_entered_a_result_cannot_validate_it(lab):
    order = lab.order(HB)
    lab.collect(order)
    lab.enter(order, {HB: "13.1"}, by=lab.tech_a)
    with pytest.raises(ValidationError, match="another technician"):
        lab.validate(order, by=lab.tech_a)
    result = LabResult.objects.get()
    assert result.validated_at is None
    # Behind the service's back, the database refuses it too.
    with pytest.raises(IntegrityError), transaction.atomic():
        LabResult.objects.filter(pk=result.pk).update(
            validated_by=lab.tech_a, validated_at=timezone.now()
        )
    assert lab.validate(order, by=lab.tech_b) == 1
    result.refresh_from_db()
    assert (result.entered_by_id, result.validated_by_id) == (lab.tech_a.pk, lab.tech_b.pk)


def test_entering_again_before_validation_makes_it_the_new_technicians(lab):
    order = lab.order(HB)
    lab.collect(order)
    lab.enter(order, {HB: "13.1"}, by=lab.tech_a)
    lab.enter(order, {HB: "13.4"}, by=lab.tech_b)
    with pytest.raises(ValidationError):
        lab.validate(order, by=lab.tech_b)
    lab.validate(order, by=lab.tech_a)
    with acting(lab.practitioner) as actor:
        line = patient_results(actor=actor, patient_id=lab.patient).reports[0].lines[0]
    assert line.value == "13.4"


def test_a_validated_result_no_longer_changes(lab):
    order = lab.done({HB: "13.1", K: "4.2"})
    order.refresh_from_db()
    assert order.status == OrderStatus.DONE
    hb_item = order.items.get(test__loinc=HB).pk
    with pytest.raises(ValidationError), acting(lab.tech_a) as actor:
        enter_results(actor=actor, order_id=order.pk, entries={hb_item: ("9", "")})
    validated = list(LabResult.objects.filter(item__order=order).values_list("pk", flat=True))
    with pytest.raises(ValidationError), acting(lab.tech_a) as actor:
        validate_results(actor=actor, order_id=order.pk, result_ids=validated)
    with acting(lab.tech_a) as actor:
        lines = order_sheet(actor=actor, order_id=order.pk).lines
    assert [line.value for line in lines] == ["13.1", "4.2"]


def test_partial_validation_keeps_the_order_open(lab):
    order = lab.order(HB, K)
    lab.collect(order)
    lab.enter(order, {HB: "13.1"})
    lab.validate(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_PROGRESS
    lab.enter(order, {K: "4.0"})
    lab.validate(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.DONE and order.done_at is not None


def test_the_laboratory_keeps_the_patient_open_only_for_the_orders_time(lab):
    order = lab.order(HB)
    relation = CareRelationship.objects.get(source=f"lab_order:{order.pk}")
    assert relation.kind == RelationshipKind.LAB_ORDER
    assert relation.establishment_id == lab.laboratory.pk and relation.user_id is None
    assert relation.ends_at - relation.starts_at == datetime.timedelta(days=ORDER_OPEN_DAYS)
    lab.collect(order)
    lab.enter(order, {HB: "13"})
    lab.validate(order)
    open_now = CareRelationship.objects.filter(
        source=f"lab_order:{order.pk}", ends_at__gt=timezone.now()
    ).get()
    assert open_now.ends_at - timezone.now() <= datetime.timedelta(days=FOLLOW_UP_DAYS)


def test_the_blood_group_is_a_result_of_its_loinc_code_and_needs_two_determinations(lab):
    first = lab.done({GROUP: "O-"})
    stored = LabResult.objects.get(item__order=first)
    assert stored.item.test.loinc == "882-1"
    with acting(lab.practitioner) as actor:
        group = patient_results(actor=actor, patient_id=lab.patient).blood_group
    assert group.shown == "O\u2212" and group.determinations == 1 and not group.confirmed
    lab.done({GROUP: "O-"})
    with acting(lab.practitioner) as actor:
        group = patient_results(actor=actor, patient_id=lab.patient).blood_group
    assert group.confirmed and not group.discordant
    lab.done({GROUP: "A+"})
    with acting(lab.practitioner) as actor:
        group = patient_results(actor=actor, patient_id=lab.patient).blood_group
    assert group.discordant and not group.confirmed


def test_repeated_tests_make_a_trend(lab):
    lab.done({K: "3.9"})
    lab.done({K: "5.6", HB: "13"})
    with acting(lab.practitioner) as actor:
        trends = patient_results(actor=actor, patient_id=lab.patient).trends
    assert [t.test.loinc for t in trends] == [K]
    assert [(p.shown, p.flag) for p in trends[0].points] == [("3.9", ""), ("5.6", "H")]
    assert trends[0].direction == "up"


def test_orders_are_listed_for_the_patient_newest_first(lab):
    older = lab.done({HB: "12"})
    newer = lab.order(K)
    LabOrder.objects.filter(pk=older.pk).update(
        ordered_at=timezone.now() - datetime.timedelta(days=3)
    )
    with acting(lab.practitioner) as actor:
        reports = patient_results(actor=actor, patient_id=lab.patient).reports
    assert [r.order_id for r in reports] == [str(newer.pk), str(older.pk)]
    assert reports[0].awaited and not reports[0].lines


def test_a_specimen_taken_is_a_visit_for_the_retention_of_the_record(lab, establishment):
    assert last_collections in retention._ACTIVITY_SOURCES
    never_collected = make_patient(establishment)
    relate(patient_id=never_collected, kind="treating_doctor", user_id=lab.practitioner.pk)
    order = lab.order(HB)
    lab.collect(order)
    old = timezone.now() - datetime.timedelta(days=400)
    Specimen.objects.filter(order=order).update(collected_at=old)
    lab.done({K: "4.0"})
    lab.patient = never_collected
    lab.order(HB)
    ids = [uuid.UUID(str(p)) for p in (order.patient_id, never_collected)]
    latest = last_collections(ids)
    assert set(map(str, latest)) == {str(order.patient_id)}
    assert latest[order.patient_id] > old
