"""Ordering tests, collecting specimens, entering and validating results, through the guard.

An order relates the patient to the laboratory (not to each technician): its technicians open
that patient for the laboratory's work only, while the order is open and a few days after.
Validation is one step, by a technician who did not enter the result (French practice has a
technical validation then a biological one by a biologist; with the roles Carnet has, the
second pair of eyes is another technician's, and the database refuses the same account)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, opened_through
from carnet.guard.models import OUTSIDE, RelationshipKind
from carnet.guard.policy import Capability
from carnet.guard.relationships import end as end_relationship
from carnet.guard.relationships import relate
from carnet.organisations.models import Establishment, Unit
from carnet.patients.selectors import guarded_patient

from .models import (
    AccessionCounter,
    LabOrder,
    LabOrderItem,
    LabResult,
    LabTest,
    OrderStatus,
    Priority,
    Specimen,
)
from .selectors import FOLLOW_UP_DAYS, ORDER_OPEN_DAYS, lab_order_for, laboratories_for
from .values import parse_value, reference_for

MAX_CLINICAL_INFORMATION = 500


def _source(order: LabOrder) -> str:
    return f"lab_order:{order.pk}"


def _next_accession(laboratory_id: int) -> str:
    """The laboratory's next number of the year, e.g. 26-000042 (no gap, no duplicate: the
    counter row stays locked until the order is written)."""
    year = timezone.localdate().year % 100
    AccessionCounter.objects.get_or_create(laboratory_id=laboratory_id, year=year)
    counter = AccessionCounter.objects.filter(laboratory_id=laboratory_id, year=year)
    counter.update(last=F("last") + 1)
    return f"{year:02d}-{counter.values_list('last', flat=True).get():06d}"


def _ordering_unit(actor: Actor, establishment_id: int) -> int | None:
    """The practitioner's unit in the ordering establishment, when there is exactly one: the
    team that sees sensitive results. Several units: none is guessed (only the practitioner)."""
    units = list(
        Unit.objects.filter(pk__in=actor.unit_ids, establishment_id=establishment_id).values_list(
            "pk", flat=True
        )
    )
    return units[0] if len(units) == 1 else None


@transaction.atomic
def order_tests(
    *,
    actor: Actor,
    patient_id: object,
    laboratory_id: object,
    test_ids: Iterable[object],
    priority: str = Priority.ROUTINE,
    clinical_information: str = "",
) -> LabOrder:
    """A practitioner orders tests for a patient in their care from a laboratory of their
    group. A patient seen outside any care relationship can be read, not ordered for: an
    order would turn a counted look into a relationship of the laboratory's."""
    patient = guarded_patient(actor, Capability.ORDER_LAB, patient_id)
    if opened_through(actor, str(patient.id)) == OUTSIDE:
        raise Refused(
            "ordering tests needs a care relationship", patients=[str(patient.id)], not_found=False
        )
    errors: dict[str, str] = {}
    laboratory = laboratories_for(actor).filter(pk=_int(laboratory_id)).first()
    if laboratory is None:
        errors["laboratory"] = _("Choose a laboratory of your group.")
    wanted = {_int(t) for t in test_ids} - {None}
    tests = list(LabTest.objects.filter(pk__in=wanted, active=True))
    if not wanted:
        errors["tests"] = _("Choose at least one test.")
    elif len(tests) != len(wanted):
        errors["tests"] = _("Some of these tests are not in the catalogue.")
    if priority not in Priority.values:
        errors["priority"] = _("Choose routine or urgent.")
    information = clinical_information.strip()
    if len(information) > MAX_CLINICAL_INFORMATION:
        errors["clinical_information"] = _("At most %(count)d characters.") % {
            "count": MAX_CLINICAL_INFORMATION
        }
    if errors:
        raise ValidationError(errors)
    assert laboratory is not None
    in_group = Establishment.objects.filter(group_id=laboratory.group_id)
    ordered_from = min(actor.establishment_ids & set(in_group.values_list("pk", flat=True)))
    now = timezone.now()
    order = LabOrder.objects.create(
        patient=patient,
        laboratory=laboratory,
        ordered_from_id=ordered_from,
        ordered_by_id=actor.user_id,
        ordering_unit_id=_ordering_unit(actor, ordered_from),
        ordered_at=now,
        priority=priority,
        clinical_information=information or None,
        accession=_next_accession(laboratory.pk),
    )
    LabOrderItem.objects.bulk_create(LabOrderItem(order=order, test=test) for test in tests)
    relate(
        patient_id=patient.id,
        kind=RelationshipKind.LAB_ORDER,
        establishment_id=laboratory.pk,
        source=_source(order),
        starts_at=now,
        ends_at=now + datetime.timedelta(days=ORDER_OPEN_DAYS),
    )
    return order


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


@transaction.atomic
def collect_specimens(
    *, actor: Actor, order_id: object, collected_at: datetime.datetime | None = None
) -> list[Specimen]:
    """The tubes of an order are taken: one per kind of specimen its tests need, each with
    its barcode (the accession number and the tube's rank)."""
    order, _patient = lab_order_for(actor, order_id, Capability.LAB_WORK, lock=True)
    if order.status != OrderStatus.TO_COLLECT:
        raise ValidationError(_("The specimens of this order were already collected."))
    now = timezone.now()
    collected_at = collected_at or now
    if collected_at > now + datetime.timedelta(minutes=5):
        raise ValidationError({"collected_at": _("A specimen cannot be collected in the future.")})
    if collected_at < order.ordered_at - datetime.timedelta(days=1):
        raise ValidationError({"collected_at": _("This is before the order was made.")})
    kinds: list[str] = []
    for item in order.items.select_related("test").order_by("test__rank"):
        if item.test.specimen not in kinds:
            kinds.append(item.test.specimen)
    specimens = Specimen.objects.bulk_create(
        Specimen(
            order=order,
            kind=kind,
            barcode=f"{order.accession}-{rank}",
            collected_at=collected_at,
            collected_by_id=actor.user_id,
        )
        for rank, kind in enumerate(kinds, start=1)
    )
    order.status = OrderStatus.IN_PROGRESS
    order.save(update_fields=["status"])
    return specimens


@transaction.atomic
def enter_results(
    *, actor: Actor, order_id: object, entries: Mapping[int, tuple[str, str]]
) -> list[LabResult]:
    """Values typed at the bench, by item: (value, comment); blank values are left alone. A
    result not validated yet can be entered again (it is then the new technician's); a
    validated one cannot change. Nothing is written unless every value is right."""
    order, patient = lab_order_for(actor, order_id, Capability.LAB_WORK, lock=True)
    if order.status == OrderStatus.TO_COLLECT:
        raise ValidationError(_("Collect the specimens before entering results."))
    if order.status == OrderStatus.DONE:
        raise ValidationError(_("Every result of this order is validated."))
    items = list(order.items.select_related("test", "result"))
    errors: dict[str, list[str]] = {}
    accepted: list[tuple[LabOrderItem, str, str]] = []
    for item in items:
        raw, comment = entries.get(item.pk, ("", ""))
        if not raw.strip():
            continue
        result = getattr(item, "result", None)
        if result is not None and result.validated_at is not None:
            errors[f"value_{item.pk}"] = [_("This result is validated: it cannot change.")]
            continue
        try:
            accepted.append((item, parse_value(item.test, raw), comment.strip()[:300]))
        except ValidationError as error:
            errors[f"value_{item.pk}"] = error.messages
    if errors:
        raise ValidationError(errors)
    if not accepted:
        raise ValidationError(_("Enter at least one result."))
    sex = patient.sex or ""
    now = timezone.now()
    saved = []
    for item, value, comment in accepted:
        result = getattr(item, "result", None) or LabResult(item=item, patient=patient)
        result.value = value
        result.reference = reference_for(item.test, sex)
        result.comment = comment or None
        result.unit = item.test.unit
        result.entered_by_id = actor.user_id
        result.entered_at = now
        result.save()
        saved.append(result)
    return saved


@transaction.atomic
def validate_results(*, actor: Actor, order_id: object, result_ids: Iterable[object]) -> int:
    """Validates results entered by someone else; once every test of the order is validated
    the order is done and the laboratory keeps the patient open only for its follow-up."""
    order, _patient = lab_order_for(actor, order_id, Capability.VALIDATE_LAB, lock=True)
    wanted = {_int(r) for r in result_ids} - {None}
    results = list(
        LabResult.objects.select_for_update()
        .select_related("item__test")
        .filter(item__order=order, pk__in=wanted, validated_at__isnull=True)
    )
    if not results:
        raise ValidationError(_("Choose the results to validate."))
    own = [r.item.test.name for r in results if r.entered_by_id == actor.user_id]
    if own:
        raise ValidationError(
            _("You entered %(tests)s: another technician validates it.") % {"tests": ", ".join(own)}
        )
    now = timezone.now()
    LabResult.objects.filter(pk__in=[r.pk for r in results]).update(
        validated_by_id=actor.user_id, validated_at=now
    )
    pending = Q(result__isnull=True) | Q(result__validated_at__isnull=True)
    if not LabOrderItem.objects.filter(pending, order=order).exists():
        order.status = OrderStatus.DONE
        order.done_at = now
        order.save(update_fields=["status", "done_at"])
        end_relationship(
            patient_id=order.patient_id, kind=RelationshipKind.LAB_ORDER, source=_source(order)
        )
        relate(
            patient_id=order.patient_id,
            kind=RelationshipKind.LAB_ORDER,
            establishment_id=order.laboratory_id,
            source=_source(order),
            starts_at=now,
            ends_at=now + datetime.timedelta(days=FOLLOW_UP_DAYS),
        )
    return len(results)
