"""Merging two records of one person, and undoing it.

Every row of every app that points to the merged record moves to the survivor: the walk goes
over Patient's reverse relations, so a new app's foreign key is moved without a line here.
Sealed values owned by the moved row's patient are opened with the merged record's key and
sealed again with the survivor's; a model with sealed content of its own (a document's bytes)
gives `reseal_for_owner(old_owner=, new_owner=)` returning the columns to write. The
patient's open care relationships move too. Each moved row is listed in a `MergeMove`; the
merged record stays, read-only, pointing to the survivor; the audit entry holds both ids, the
account and the reason.

Undo gives back exactly the rows listed, within `UNDO_DAYS`, and only while the survivor's
identity is the one the merge left (an edit since, a death, another merge: the undo is
refused, and the records are put right by hand) and every moved row is still on the survivor.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, ledger_for
from carnet.guard.containment import end_sessions
from carnet.guard.models import CareRelationship
from carnet.guard.policy import Capability
from carnet.guard.relationships import active
from carnet.staff.models import User
from carnet.vault.fields import SealedField
from carnet.vault.keys import seal_value

from .duplicates import PairSide, pair_side
from .models import (
    ExternalIdentifier,
    IdentifierKind,
    IdentityMerge,
    MergeMove,
    Patient,
    PortalAccount,
)
from .selectors import guarded_patient, refuse_if_read_only, subject_of

UNDO_DAYS = 7
# The merge machinery itself, and the self link of merged records, never move.
_NOT_MOVED = {Patient, IdentityMerge, MergeMove}
_RELATIONSHIPS = CareRelationship._meta.label_lower


def _relations() -> Iterator[models.ForeignKey]:
    """Every foreign key (or one-to-one) of any app that points to Patient, hidden ones
    (related_name="+") included."""
    for relation in Patient._meta.get_fields(include_hidden=True):
        reverse = relation.auto_created and not relation.concrete
        if (
            reverse
            and (relation.one_to_many or relation.one_to_one)
            and relation.related_model not in _NOT_MOVED
        ):
            yield relation.field


def _sealed_by(model: type[models.Model], fk: models.ForeignKey) -> list[SealedField]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, SealedField) and f.owner_field == fk.attname
    ]


def _resealed(row: models.Model, fk: models.ForeignKey, old: str, new: str) -> dict[str, Any]:
    """Columns to write so that the row's sealed values open with the new owner's key."""
    columns: dict[str, Any] = {}
    for field in _sealed_by(type(row), fk):
        value = getattr(row, field.name)
        columns[field.attname] = (
            None if value is None else seal_value(new, field.place, field.to_text(value))
        )
    hook = getattr(row, "reseal_for_owner", None)
    if callable(hook):
        columns.update(hook(old_owner=old, new_owner=new))
    return columns


def _adjust(row: models.Model, survivor: Patient, moves: list[MergeMove]) -> tuple[dict, dict]:
    """What must change besides the foreign key for a row to fit on the survivor (and what
    puts it back): a second IPP at one establishment becomes a former IPP; a second open
    patient space account is closed."""
    if isinstance(row, ExternalIdentifier) and row.kind == IdentifierKind.IPP:
        taken = ExternalIdentifier.objects.filter(
            patient=survivor, establishment_id=row.establishment_id, kind=IdentifierKind.IPP
        ).exists()
        if taken:
            return {"kind": IdentifierKind.MERGED_IPP}, {"kind": IdentifierKind.IPP}
    second_account = (
        isinstance(row, PortalAccount)
        and row.closed_at is None
        and PortalAccount.objects.filter(patient=survivor, closed_at__isnull=True).exists()
    )
    if second_account:
        User.objects.filter(pk=row.user_id).update(is_active=False)
        end_sessions(row.user_id)
        user = MergeMove(
            model=User._meta.label_lower, row=str(row.user_id), restore={"is_active": True}
        )
        moves.append(user)
        return {"closed_at": timezone.now()}, {"closed_at": None}
    return {}, {}


def _move_rows(merged: Patient, survivor: Patient) -> list[MergeMove]:
    old, new = str(merged.id), str(survivor.id)
    moves: list[MergeMove] = []
    for fk in _relations():
        model = fk.model
        for row in model._base_manager.filter(**{fk.attname: merged.id}).order_by("pk"):
            changes, restore = _adjust(row, survivor, moves)
            changes.update(_resealed(row, fk, old, new))
            changes[fk.attname] = survivor.id
            model._base_manager.filter(pk=row.pk).update(**changes)
            moves.append(
                MergeMove(
                    model=model._meta.label_lower,
                    row=str(row.pk),
                    field=fk.attname,
                    restore={fk.attname: old, **restore},
                )
            )
    relationships = CareRelationship.objects.filter(active(), patient_id=merged.id)
    for pk in relationships.values_list("pk", flat=True):
        moves.append(
            MergeMove(
                model=_RELATIONSHIPS, row=str(pk), field="patient_id", restore={"patient_id": old}
            )
        )
    relationships.update(patient_id=survivor.id)
    return moves


def _lock(*patients: Patient) -> dict[str, tuple[bool, object]]:
    rows = (
        Patient.objects.select_for_update()
        .filter(pk__in=[p.pk for p in patients])
        .order_by("pk")
        .values_list("pk", "deceased", "merged_into_id")
    )
    return {str(pk): (deceased, merged_into) for pk, deceased, merged_into in rows}


def _in_establishments(actor: Actor, patient: Patient) -> Patient:
    """A merge changes a record for every establishment that knows it: the actor must be a
    member of one of them (a care relationship alone is not enough)."""
    if not actor.is_system and not subject_of(patient).establishment_ids & actor.establishment_ids:
        raise Refused("merge outside the actor's establishments", patients=[str(patient.id)])
    return patient


def _two(actor: Actor, first_id: object, second_id: object) -> tuple[Patient, Patient]:
    first = _in_establishments(actor, guarded_patient(actor, Capability.MERGE_IDENTITIES, first_id))
    second = _in_establishments(
        actor, guarded_patient(actor, Capability.MERGE_IDENTITIES, second_id)
    )
    return first, second


def merge_identities(*, actor: Actor, survivor_id: object, merged_id: object, reason: str) -> int:
    """Merges `merged_id` into `survivor_id`; returns the merge's number."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why these two records are the same person.")})
    try:
        with transaction.atomic():
            survivor, merged = _two(actor, survivor_id, merged_id)
            if survivor.pk == merged.pk:
                raise ValidationError(_("A record cannot be merged into itself."))
            state = _lock(survivor, merged)
            for patient in (survivor, merged):
                patient.deceased, patient.merged_into_id = state[str(patient.pk)]
                refuse_if_read_only(patient)
            now = timezone.now()
            merge = IdentityMerge(
                survivor=survivor,
                merged=merged,
                merged_by_id=actor.user_id,
                merged_at=now,
                survivor_version=0,
            )
            merge.reason = reason.strip()
            merge.save()
            moves = _move_rows(merged, survivor)
            for move in moves:
                move.merge = merge
            MergeMove.objects.bulk_create(moves)
            Patient.objects.filter(pk=merged.pk).update(
                merged_into=survivor.pk, merged_at=now, version=F("version") + 1, updated_at=now
            )
            Patient.objects.filter(pk=survivor.pk).update(version=F("version") + 1, updated_at=now)
            merge.survivor_version = Patient.objects.values_list("version", flat=True).get(
                pk=survivor.pk
            )
            merge.save(update_fields=["survivor_version"])
            ledger_for(actor).reason = (
                f"identity merge {merge.pk}: {merged.id} merged into {survivor.id} "
                f"({len(moves)} rows moved): {reason.strip()}"
            )
            return merge.pk
    except IntegrityError:
        raise ValidationError(
            _("A row of the merged record could not be moved to the survivor: nothing changed.")
        ) from None


def _undo_problem(merge: IdentityMerge, survivor: Patient, merged: Patient) -> str:
    if merge.undone_at is not None:
        return _("This merge was already undone.")
    if timezone.now() > merge.merged_at + datetime.timedelta(days=UNDO_DAYS):
        return _("A merge can be undone for %(days)s days only.") % {"days": UNDO_DAYS}
    if survivor.version != merge.survivor_version:
        return _("The surviving record changed since the merge: put it right by hand.")
    if survivor.read_only or merged.merged_into_id != survivor.pk:
        return _("The records are no longer as the merge left them: put them right by hand.")
    return ""


def _restore(merge: IdentityMerge, survivor: Patient, merged: Patient) -> None:
    old, new = str(survivor.id), str(merged.id)
    for move in merge.moves.order_by("-pk"):
        model = apps.get_model(move.model)
        row = model._base_manager.filter(pk=move.row).first()
        if row is None or (move.field and str(getattr(row, move.field)) != old):
            raise ValidationError(
                _("A row moved by the merge has changed since (%(what)s): put it right by hand.")
                % {"what": model._meta.verbose_name}
            )
        changes = dict(move.restore)
        if move.field:
            fk = model._meta.get_field(move.field) if move.model != _RELATIONSHIPS else None
            if isinstance(fk, models.ForeignKey):
                changes.update(_resealed(row, fk, old, new))
        model._base_manager.filter(pk=row.pk).update(**changes)


def undo_merge(*, actor: Actor, merge_id: int, reason: str) -> None:
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the merge is undone.")})
    try:
        with transaction.atomic():
            merge = IdentityMerge.objects.select_for_update().filter(pk=merge_id).first()
            if merge is None:
                raise Refused("no such merge")
            survivor, merged = _two(actor, merge.survivor_id, merge.merged_id)
            _lock(survivor, merged)
            survivor.refresh_from_db(fields=["version", "deceased", "merged_into"])
            problem = _undo_problem(merge, survivor, merged)
            if problem:
                raise ValidationError(problem)
            _restore(merge, survivor, merged)
            now = timezone.now()
            Patient.objects.filter(pk=merged.pk).update(
                merged_into=None, merged_at=None, version=F("version") + 1, updated_at=now
            )
            Patient.objects.filter(pk=survivor.pk).update(version=F("version") + 1, updated_at=now)
            merge.undone_at = now
            merge.undone_by_id = actor.user_id
            merge.undo_reason = reason.strip()
            merge.save(update_fields=["undone_at", "undone_by", "undo_reason"])
            ledger_for(actor).reason = (
                f"identity merge {merge.pk} undone: {merged.id} separated from {survivor.id}: "
                f"{reason.strip()}"
            )
    except IntegrityError:
        raise ValidationError(
            _("A row could not be given back to the merged record: nothing changed.")
        ) from None


@dataclass(frozen=True)
class Moving:
    label: str
    count: int


@dataclass(frozen=True)
class MergePreview:
    first: PairSide
    second: PairSide
    first_rows: tuple[Moving, ...]
    second_rows: tuple[Moving, ...]


def _moving(counts: Counter) -> tuple[Moving, ...]:
    """Rows by kind, each named in the singular or the plural as its count wants."""
    named = []
    for model, count in counts.items():
        options = model._meta
        named.append(
            Moving(str(options.verbose_name if count == 1 else options.verbose_name_plural), count)
        )
    return tuple(sorted(named, key=lambda m: m.label))


def _rows_of(patient: Patient) -> tuple[Moving, ...]:
    counts: Counter = Counter()
    for fk in _relations():
        count = fk.model._base_manager.filter(**{fk.attname: patient.id}).count()
        if count:
            counts[fk.model] += count
    relationships = CareRelationship.objects.filter(active(), patient_id=patient.id).count()
    if relationships:
        counts[CareRelationship] += relationships
    return _moving(counts)


def merge_preview(*, actor: Actor, first_id: object, second_id: object) -> MergePreview:
    """Both records side by side, and what each would bring to the other."""
    first, second = _two(actor, first_id, second_id)
    if first.pk == second.pk:
        raise ValidationError(_("Choose two different records."))
    return MergePreview(
        first=pair_side(first, actor.establishment_ids),
        second=pair_side(second, actor.establishment_ids),
        first_rows=_rows_of(first),
        second_rows=_rows_of(second),
    )


@dataclass(frozen=True)
class MergeSummary:
    id: int
    survivor: PairSide
    merged: PairSide
    merged_by: str
    merged_at: datetime.datetime
    reason: str
    moved: tuple[Moving, ...]
    undone_at: datetime.datetime | None
    undone_by: str
    undo_reason: str
    undo_until: datetime.datetime
    undo_problem: str


def _name(user: User | None) -> str:
    return (user.get_full_name() or user.username) if user else _("the system")


def merge_record(*, actor: Actor, merge_id: int) -> MergeSummary:
    merge = (
        IdentityMerge.objects.select_related("merged_by", "undone_by").filter(pk=merge_id).first()
    )
    if merge is None:
        raise Refused("no such merge")
    survivor, merged = _two(actor, merge.survivor_id, merge.merged_id)
    counts: Counter = Counter()
    for model_label in merge.moves.exclude(field="").values_list("model", flat=True):
        counts[apps.get_model(model_label)] += 1
    return MergeSummary(
        id=merge.pk,
        survivor=pair_side(survivor, actor.establishment_ids),
        merged=pair_side(merged, actor.establishment_ids),
        merged_by=_name(merge.merged_by),
        merged_at=merge.merged_at,
        reason=merge.reason or "",
        moved=_moving(counts),
        undone_at=merge.undone_at,
        undone_by=_name(merge.undone_by) if merge.undone_at else "",
        undo_reason=merge.undo_reason or "",
        undo_until=merge.merged_at + datetime.timedelta(days=UNDO_DAYS),
        undo_problem=_undo_problem(merge, survivor, merged),
    )


@dataclass(frozen=True)
class MergeLine:
    id: int
    other_id: str
    at: datetime.datetime
    undone: bool


@dataclass(frozen=True)
class MergeHistory:
    merged_into: MergeLine | None  # this record was merged into another
    absorbed: tuple[MergeLine, ...]  # records merged into this one


def merges_of(*, actor: Actor, patient_id: object) -> MergeHistory:
    """Ids and dates only: the other record's identity opens on the merge's own page."""
    patient = guarded_patient(actor, Capability.VIEW_IDENTITY, patient_id)
    rows = IdentityMerge.objects.filter(
        models.Q(survivor=patient) | models.Q(merged=patient)
    ).order_by("-merged_at")
    into = next((r for r in rows if r.merged_id == patient.pk and r.undone_at is None), None)
    return MergeHistory(
        merged_into=MergeLine(into.pk, str(into.survivor_id), into.merged_at, False)
        if into
        else None,
        absorbed=tuple(
            MergeLine(r.pk, str(r.merged_id), r.merged_at, r.undone_at is not None)
            for r in rows
            if r.survivor_id == patient.pk
        ),
    )
