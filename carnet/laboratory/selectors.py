"""Reading the laboratory, always through the guard: the bench's worklist and order sheets
(for the technicians of the ordering laboratory, who see what the laboratory needs of the
patient: name, sex, birth date) and a patient's validated results for clinicians, with
sensitive results masked outside the ordering practitioner's team unless opened on purpose."""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Case, Exists, OuterRef, Prefetch, Q, QuerySet, When
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.clinical.letters import ResultLine
from carnet.clinical.sensitivity import category_label, masked_label, may_see, open_categories
from carnet.guard.actors import Actor
from carnet.guard.boundary import admit, opened_through, require
from carnet.guard.models import OUTSIDE
from carnet.guard.policy import Capability, role_may
from carnet.organisations.models import Establishment, EstablishmentKind
from carnet.patients.cards import display_name
from carnet.patients.models import Patient, Sex
from carnet.patients.selectors import guarded_patient, parse_patient_id, subject_of, with_relations
from carnet.vault import keys as vault_keys

from .models import (
    BLOOD_GROUP_LOINC,
    LabOrder,
    LabOrderItem,
    LabResult,
    LabTest,
    OrderStatus,
    OutboundStatus,
    Priority,
    Section,
)
from .values import (
    display_value,
    flag_for,
    numeric,
    reference_bounds,
    reference_for,
    reference_text,
)

# Orders done stay on the bench's "done" list (and open to it) this long: add-on tests, a
# telephone call about a result.
FOLLOW_UP_DAYS = 7
# An order not done by then is stale: it leaves the bench and stops opening the patient.
ORDER_OPEN_DAYS = 60
WORKLIST_ROWS = 100
# Results owed this many hours after the order: an urgent one within two hours, a routine
# one within the day.
TURNAROUND_HOURS = {Priority.URGENT: 2, "routine": 24}
NIL = "00000000-0000-0000-0000-000000000000"


class Tab:
    TO_COLLECT = "to_collect"
    TO_ENTER = "to_enter"
    TO_VALIDATE = "to_validate"
    DONE = "done"
    ALL = (TO_COLLECT, TO_ENTER, TO_VALIDATE, DONE)


@dataclass(frozen=True)
class LabPatient:
    """What the laboratory needs of the patient: to label tubes and read reference ranges."""

    id: str
    name: str
    sex: str
    birth_date: datetime.date | None

    @property
    def sex_label(self) -> str:
        return str(Sex(self.sex).label)

    @property
    def age(self) -> int | None:
        if self.birth_date is None:
            return None
        today = timezone.localdate()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def lab_patient(patient: Patient) -> LabPatient:
    return LabPatient(
        id=str(patient.id),
        name=display_name(patient),
        sex=patient.sex or Sex.UNKNOWN,
        birth_date=patient.birth_date,
    )


def lab_order_for(
    actor: Actor, order_id: object, capability: Capability, *, lock: bool = False
) -> tuple[LabOrder, Patient]:
    """An order of one of the actor's laboratories and its patient, handed over by the guard
    for the laboratory's work; "not found" alike for another laboratory's order and none."""
    require(actor, capability)
    query = LabOrder.objects.filter(
        pk=parse_patient_id(order_id), laboratory_id__in=actor.establishment_ids
    )
    if lock:
        query = query.select_for_update(of=("self",))
    order = query.select_related("laboratory", "ordered_from", "ordered_by").first()
    patient = guarded_patient(actor, capability, order.patient_id if order else NIL)
    assert order is not None
    return order, patient


# ---- the bench -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorklistRow:
    order_id: str
    accession: str
    patient: LabPatient
    tests: tuple[str, ...]
    ordered_at: datetime.datetime
    ordered_by: str
    urgent: bool
    status: str
    due_at: datetime.datetime | None = None

    @property
    def late(self) -> bool:
        return self.due_at is not None and self.due_at < timezone.now()


def due_at(order: LabOrder) -> datetime.datetime | None:
    """When the laboratory owes the results: the turnaround of its priority from the order
    (a done order owes nothing)."""
    if order.status == OrderStatus.DONE:
        return None
    hours = TURNAROUND_HOURS[Priority.URGENT if order.priority == Priority.URGENT else "routine"]
    return order.ordered_at + datetime.timedelta(hours=hours)


@dataclass(frozen=True)
class Worklist:
    tab: str
    counts: dict[str, int]
    rows: tuple[WorklistRow, ...]
    more: bool


def _tab_query(actor: Actor, tab: str) -> QuerySet:
    now = timezone.now()
    orders = LabOrder.objects.filter(laboratory_id__in=actor.establishment_ids)
    missing = LabOrderItem.objects.filter(
        Q(result__isnull=True) | Q(result__returned_at__isnull=False), order=OuterRef("pk")
    )
    waiting = LabResult.objects.filter(
        item__order=OuterRef("pk"), validated_at__isnull=True, returned_at__isnull=True
    )
    if tab == Tab.DONE:
        since = now - datetime.timedelta(days=FOLLOW_UP_DAYS)
        return orders.filter(status=OrderStatus.DONE, done_at__gte=since)
    orders = orders.filter(ordered_at__gt=now - datetime.timedelta(days=ORDER_OPEN_DAYS))
    if tab == Tab.TO_COLLECT:
        return orders.filter(status=OrderStatus.TO_COLLECT)
    if tab == Tab.TO_ENTER:
        return orders.filter(Exists(missing), status=OrderStatus.IN_PROGRESS)
    return orders.filter(Exists(waiting), status=OrderStatus.IN_PROGRESS)


def worklist(*, actor: Actor, tab: str) -> Worklist:
    """The orders of the actor's laboratories in one state, urgent ones first; every patient
    named on it is handed over by the guard (through the laboratory's orders)."""
    require(actor, Capability.LAB_WORK)
    tab = tab if tab in Tab.ALL else Tab.TO_COLLECT
    counts = {name: _tab_query(actor, name).count() for name in Tab.ALL}
    newest_first = tab == Tab.DONE
    orders = list(
        _tab_query(actor, tab)
        .select_related("ordered_by")
        .prefetch_related("items__test")
        .order_by(
            "-done_at" if newest_first else Case(When(priority=Priority.URGENT, then=0), default=1),
            "ordered_at",
        )[: WORKLIST_ROWS + 1]
    )
    more = len(orders) > WORKLIST_ROWS
    orders = orders[:WORKLIST_ROWS]
    patients = {
        str(p.id): p
        for p in with_relations(Patient.objects.filter(id__in={o.patient_id for o in orders}))
    }
    subjects = [subject_of(p) for p in patients.values()]
    handed = {s.patient_id for s in admit(actor, Capability.LAB_WORK, subjects)}
    vault_keys.preload(handed)
    rows = tuple(
        WorklistRow(
            order_id=str(order.pk),
            accession=order.accession,
            patient=lab_patient(patients[str(order.patient_id)]),
            tests=tuple(item.test.code for item in order.items.all()),
            ordered_at=order.ordered_at,
            ordered_by=order.ordered_by.display_name,
            urgent=order.priority == Priority.URGENT,
            status=order.status,
            due_at=due_at(order),
        )
        for order in orders
        if str(order.patient_id) in handed
    )
    return Worklist(tab=tab, counts=counts, rows=rows, more=more)


def find_accession(*, actor: Actor, accession: str) -> str | None:
    """The order of that accession (or tube barcode) number in the actor's laboratories."""
    require(actor, Capability.LAB_WORK)
    number = accession.strip().upper()
    if not number:
        return None
    orders = LabOrder.objects.filter(laboratory_id__in=actor.establishment_ids)
    found = orders.filter(Q(accession=number) | Q(specimens__barcode=number)).first()
    return str(found.pk) if found else None


@dataclass(frozen=True)
class Version:
    """A value a correction replaced, shown struck through."""

    shown: str
    replaced_by: str
    replaced_at: datetime.datetime
    reason: str


@dataclass(frozen=True)
class Line:
    """One test of an order with its result, as far as the reader may see it."""

    item_id: int
    test: LabTest
    result_id: int | None = None
    value: str = ""
    shown: str = ""
    flag: str = ""
    reference: str = ""
    unit: str = ""
    comment: str = ""
    entered_by: str = ""
    entered_by_id: int | None = None
    entered_at: datetime.datetime | None = None
    validated_by: str = ""
    validated_at: datetime.datetime | None = None
    masked: str = ""
    computed: bool = False
    implausible_confirmed: bool = False
    returned_by: str = ""
    return_reason: str = ""
    corrected_by: str = ""
    corrected_at: datetime.datetime | None = None
    versions: tuple[Version, ...] = ()
    # The prescriber's alerts about this result: (kind label, acknowledged by, when or None).
    alerts: tuple[tuple[str, str, datetime.datetime | None], ...] = ()
    # The numeric reference as stored for this patient ("" where open-ended).
    reference_low: str = ""
    reference_high: str = ""
    # Added to the prescriber's order by the laboratory (a reflex or add-on test).
    added_by_laboratory: bool = False

    @property
    def returned(self) -> bool:
        return bool(self.returned_by)

    @property
    def corrected(self) -> bool:
        return self.corrected_at is not None

    @property
    def entered(self) -> bool:
        return self.result_id is not None

    @property
    def validated(self) -> bool:
        return self.validated_at is not None


def _line(item: LabOrderItem, *, open_value: bool) -> Line:
    result = getattr(item, "result", None)
    added = item.added_by_id is not None
    if result is None:
        return Line(item_id=item.pk, test=item.test, unit=item.test.unit, added_by_laboratory=added)
    test = item.test
    seen = {}
    if open_value:
        seen = {
            "value": result.value,
            "shown": display_value(test, result.value),
            "flag": flag_for(test.result_type, result.value, result.reference),
            "reference": reference_text(test, result.reference),
            **reference_bounds(test, result.reference),
            "comment": result.comment or "",
            "return_reason": result.return_reason or "",
            "versions": tuple(
                Version(
                    display_value(test, v.value),
                    v.replaced_by.display_name,
                    v.replaced_at,
                    v.reason or "",
                )
                for v in result.versions.all()
            ),
            "alerts": tuple(
                (
                    a.get_kind_display(),
                    a.acknowledged_by.display_name if a.acknowledged_by else "",
                    a.acknowledged_at,
                )
                for a in result.alerts.all()
            ),
        }
    return Line(
        item_id=item.pk,
        test=test,
        result_id=result.pk,
        unit=result.unit,
        entered_by=result.entered_by.display_name,
        entered_by_id=result.entered_by_id,
        entered_at=result.entered_at,
        validated_by=result.validated_by.display_name
        if result.validated_by
        else (str(_("the laboratory's system")) if result.validated_by_system else ""),
        validated_at=result.validated_at,
        computed=result.computed,
        implausible_confirmed=result.implausible_confirmed,
        returned_by=result.returned_by.display_name if result.returned_by else "",
        corrected_by=result.corrected_by.display_name if result.corrected_by else "",
        corrected_at=result.corrected_at,
        added_by_laboratory=added,
        **seen,
    )


@dataclass(frozen=True)
class SpecimenRow:
    kind: str
    label: str
    barcode: str
    collected_at: datetime.datetime
    collected_by: str


@dataclass(frozen=True)
class OrderSheet:
    id: str
    accession: str
    status: str
    status_label: str
    urgent: bool
    ordered_at: datetime.datetime
    ordered_by: str
    ordered_from: str
    laboratory: str
    clinical_information: str
    patient: LabPatient
    lines: tuple[Line, ...]
    specimens: tuple[SpecimenRow, ...]
    tubes: tuple[str, ...] = field(default=())
    # Sent to the laboratory's system: (status label, when, the system's reason or the last
    # error), the newest first.
    sent: tuple[tuple[str, datetime.datetime | None, str], ...] = field(default=())

    @property
    def to_enter(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if not line.validated)

    @property
    def to_validate(self) -> tuple[Line, ...]:
        return tuple(
            line for line in self.lines if line.entered and not line.validated and not line.returned
        )

    @property
    def validated(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.validated and not line.computed)


def _items_query() -> QuerySet:
    return (
        LabOrderItem.objects.select_related(
            "test",
            "result__entered_by",
            "result__validated_by",
            "result__returned_by",
            "result__corrected_by",
        )
        .prefetch_related("result__versions__replaced_by", "result__alerts__acknowledged_by")
        .order_by("test__rank")
    )


def _items(order: LabOrder) -> list[LabOrderItem]:
    return list(_items_query().filter(order=order))


def _with_reference(line: Line, patient: Patient) -> Line:
    """A test still to enter shows the patient's reference range before the value is typed."""
    if line.entered:
        return line
    reference = reference_text(line.test, reference_for(line.test, patient.sex or ""))
    return dataclasses.replace(line, reference=reference)


def order_sheet(*, actor: Actor, order_id: object) -> OrderSheet:
    """An order at the bench: patient, tests, tubes, results entered and validated."""
    order, patient = lab_order_for(actor, order_id, Capability.LAB_WORK)
    items = _items(order)
    specimens = order.specimens.select_related("collected_by")
    kinds = []
    for item in items:
        if item.test.get_specimen_display() not in kinds:
            kinds.append(item.test.get_specimen_display())
    return OrderSheet(
        id=str(order.pk),
        accession=order.accession,
        status=order.status,
        status_label=order.get_status_display(),
        urgent=order.priority == Priority.URGENT,
        ordered_at=order.ordered_at,
        ordered_by=order.ordered_by.display_name,
        ordered_from=order.ordered_from.name,
        laboratory=order.laboratory.name,
        clinical_information=order.clinical_information or "",
        patient=lab_patient(patient),
        lines=tuple(_with_reference(_line(item, open_value=True), patient) for item in items),
        specimens=tuple(
            SpecimenRow(
                s.kind, s.get_kind_display(), s.barcode, s.collected_at, s.collected_by.display_name
            )
            for s in specimens
        ),
        tubes=tuple(kinds),
        sent=tuple(
            (
                o.get_status_display(),
                o.answered_at or o.last_attempt_at,
                (o.reason or "") if o.status == OutboundStatus.REFUSED else o.last_error,
            )
            for o in order.sent.order_by("-created_at")
        ),
    )


# ---- a patient's results, for clinicians ----------------------------------------------------


@dataclass(frozen=True)
class TubeView:
    """One tube collected for an order: its kind, barcode and when it was taken."""

    id: int
    kind: str
    kind_label: str
    barcode: str
    collected_at: datetime.datetime


@dataclass(frozen=True)
class ReportGroup:
    """One order as clinicians read it: its validated results (or the tests still awaited)."""

    order_id: str
    accession: str
    when: datetime.datetime
    laboratory: str
    ordered_by: str
    done: bool
    status_label: str
    lines: tuple[Line, ...]
    awaited: tuple[Line, ...]
    ordered_at: datetime.datetime | None = None
    urgent: bool = False
    tubes: tuple[TubeView, ...] = ()

    @property
    def all_masked(self) -> bool:
        return all(line.masked for line in self.lines)


@dataclass(frozen=True)
class TrendPoint:
    when: datetime.datetime
    shown: str
    flag: str
    value: float | None


@dataclass(frozen=True)
class Trend:
    test: LabTest
    unit: str
    points: tuple[TrendPoint, ...]

    @property
    def direction(self) -> str:
        first, last = self.points[0].value, self.points[-1].value
        if first is None or last is None or first == last:
            return ""
        return "up" if last > first else "down"


@dataclass(frozen=True)
class BloodGroup:
    """The latest ABO-RhD result and how many determinations back it: in France a group is
    usable for transfusion once two determinations on two samples agree."""

    shown: str
    determinations: int
    discordant: bool

    @property
    def confirmed(self) -> bool:
        return self.determinations >= 2 and not self.discordant


def _blood_group(groups: list[tuple[datetime.datetime, str, str]]) -> BloodGroup | None:
    if not groups:
        return None
    groups.sort(key=lambda g: g[0])
    latest = groups[-1]
    return BloodGroup(
        shown=latest[2],
        determinations=len(groups),
        discordant=any(code != latest[1] for _, code, _ in groups),
    )


@dataclass(frozen=True)
class PatientLab:
    patient: LabPatient
    reports: tuple[ReportGroup, ...]
    blood_group: BloodGroup | None
    trends: tuple[Trend, ...]
    masked_categories: tuple[tuple[str, str], ...]
    can_order: bool
    can_open: bool


def _when(order: LabOrder) -> datetime.datetime:
    collected = [s.collected_at for s in order.specimens.all()]
    return min(collected) if collected else order.ordered_at


def patient_results(*, actor: Actor, patient_id: object) -> PatientLab:
    """A patient's orders, newest first, with validated results only: a value entered at
    the bench stays there until another technician validated it. Sensitive results outside
    the ordering practitioner's team (and anything awaited in a sensitive category) show as
    masked, their value never opened."""
    patient = guarded_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    pid = str(patient.id)
    opened = open_categories(actor, pid)
    orders = (
        LabOrder.objects.filter(patient=patient)
        .select_related("laboratory", "ordered_by")
        .prefetch_related("specimens", Prefetch("items", queryset=_items_query()))
        .order_by("-ordered_at")
    )
    reports, masked = [], {}
    series: dict[int, list[tuple[datetime.datetime, Line]]] = defaultdict(list)
    groups: list[tuple[datetime.datetime, str, str]] = []
    for order in orders:
        when = _when(order)
        lines, awaited = [], []
        for item in order.items.all():
            category = item.test.sensitive_category
            visible = may_see(
                actor, pid, category, order.ordered_by_id, order.ordering_unit_id, opened=opened
            )
            result = getattr(item, "result", None)
            validated = result is not None and result.validated_at is not None
            if not visible:
                masked[category] = category_label(category)
                line = Line(item_id=item.pk, test=item.test, masked=masked_label(category))
            else:
                line = _line(item, open_value=validated)
            (lines if validated else awaited).append(line)
            if visible and validated:
                series[item.test.pk].append((when, line))
                if item.test.loinc == BLOOD_GROUP_LOINC:
                    groups.append((when, line.value, line.shown))
        reports.append(
            ReportGroup(
                order_id=str(order.pk),
                accession=order.accession,
                when=when,
                laboratory=order.laboratory.name,
                ordered_by=order.ordered_by.display_name,
                done=order.status == OrderStatus.DONE,
                status_label=order.get_status_display(),
                lines=tuple(lines),
                awaited=tuple(awaited),
                ordered_at=order.ordered_at,
                urgent=order.priority == Priority.URGENT,
                tubes=tuple(
                    TubeView(
                        id=tube.pk,
                        kind=tube.kind,
                        kind_label=tube.get_kind_display(),
                        barcode=tube.barcode,
                        collected_at=tube.collected_at,
                    )
                    for tube in order.specimens.all()
                ),
            )
        )
    return PatientLab(
        patient=lab_patient(patient),
        reports=tuple(reports),
        blood_group=_blood_group(groups),
        trends=_trends(series),
        masked_categories=tuple(sorted(masked.items())),
        can_order=(
            role_may(actor.role, Capability.ORDER_LAB) and opened_through(actor, pid) != OUTSIDE
        ),
        can_open=role_may(actor.role, Capability.OPEN_SENSITIVE),
    )


def result_lines(*, actor: Actor, patient_id: object) -> list[ResultLine]:
    """The patient's validated results as a discharge letter takes them (masked ones left
    out, never opened)."""
    lab = patient_results(actor=actor, patient_id=patient_id)
    return [
        ResultLine(
            when=group.when, test=line.test.name, shown=line.shown, unit=line.unit, flag=line.flag
        )
        for group in lab.reports
        for line in group.lines
        if not line.masked and line.validated
    ]


def _trends(series: dict[int, list[tuple[datetime.datetime, Line]]]) -> tuple[Trend, ...]:
    trends = []
    for points in series.values():
        test = points[0][1].test
        if len(points) < 2 or test.loinc == BLOOD_GROUP_LOINC:
            continue
        ordered = sorted(points, key=lambda p: p[0])
        trends.append(
            Trend(
                test=test,
                unit=ordered[-1][1].unit,
                points=tuple(
                    TrendPoint(when, line.shown, line.flag, numeric(test, line.value))
                    for when, line in ordered
                ),
            )
        )
    return tuple(sorted(trends, key=lambda t: t.test.rank))


# ---- what an order form offers ---------------------------------------------------------------


def laboratories_for(actor: Actor) -> QuerySet:
    """The laboratories a practitioner may order from: those of their establishments' groups."""
    groups = Establishment.objects.filter(pk__in=actor.establishment_ids).values("group_id")
    return Establishment.objects.filter(kind=EstablishmentKind.LABORATORY, group_id__in=groups)


def catalogue() -> list[tuple[str, list[LabTest]]]:
    """The active tests by section, in the catalogue's order."""
    by_section: dict[str, list[LabTest]] = defaultdict(list)
    for test in LabTest.objects.filter(active=True):
        by_section[test.section].append(test)
    return [(str(Section(s).label), by_section[s]) for s in Section.values if by_section[s]]
