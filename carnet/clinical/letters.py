"""The discharge letter (lettre de liaison, French rule since 2016): for each stay, drafted from
the stay itself (its reason, the notes written during it, the results validated during it, the
allergies, the treatment at discharge), completed with the follow-up and signed by a
practitioner, then given to the patient and sent to the treating doctor on the day of discharge.

A draft is the practitioner's own working copy: it can be saved and changed until signed.
A signed letter is never changed; a correction is a new version that replaces it (both kept).
Drafting reads the chart through the guard like every page: notes and medications the drafter
may not see (sensitive, masked) never reach the draft.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, ledger_for
from carnet.guard.policy import Capability
from carnet.patients.cards import IdentityCard, display_name, identity_card
from carnet.patients.models import Patient
from carnet.patients.selectors import parse_patient_id
from carnet.staff import notices
from carnet.staff.models import Practitioner

from .access import (
    closed_because,
    encounter_of,
    readable_patient,
    single_unit,
    writable_patient,
)
from .chart import Chart, EncounterView, _name, encounter_view
from .models import DischargeLetter, EncounterKind
from .notes import clean_category
from .printouts import grouped_code
from .sensitivity import category_label, may_see, open_categories
from .worklists import in_relationship

SECTIONS = ("reason", "course", "results", "allergies", "treatment", "follow_up")
MAX_SECTION = 8_000
# A note longer than this is cut in the draft (the practitioner writes the synthesis).
NOTE_IN_DRAFT = 600


@dataclass(frozen=True)
class ResultLine:
    """One validated laboratory result of the stay, as the chart's reader sees it (the
    laboratory domain reads them; the letter only writes them out)."""

    when: datetime.datetime
    test: str
    shown: str
    unit: str
    flag: str


@dataclass(frozen=True)
class Sections:
    reason: str = ""
    course: str = ""
    results: str = ""
    allergies: str = ""
    treatment: str = ""
    follow_up: str = ""

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SECTIONS}


@dataclass(frozen=True)
class LetterView:
    id: str
    encounter_id: str
    version: int
    author: str
    drafted_at: datetime.datetime
    updated_at: datetime.datetime
    signed_at: datetime.datetime | None
    signed_by: str
    sent_to: str
    category: str
    category_label: str
    masked: bool
    replaced: bool
    sections: Sections

    @property
    def signed(self) -> bool:
        return self.signed_at is not None


def _local(moment: datetime.datetime, pattern: str = "d/m/Y H:i") -> str:
    return formats.date_format(timezone.localtime(moment), pattern)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def draft_from_stay(chart: Chart, stay: EncounterView, results: Sequence[ResultLine]) -> Sections:
    """What the letter proposes before the practitioner writes: everything taken from the chart
    as its reader sees it (masked items are left out, never opened)."""
    notes = sorted(
        (n for n in chart.notes if n.encounter_id == stay.id and not n.masked),
        key=lambda n: n.written_at,
    )
    course = "\n".join(
        f"{_local(n.written_at)}, {n.author}: {_cut(n.text, NOTE_IN_DRAFT)}" for n in notes
    )
    summary = chart.summary
    if summary.allergies:
        allergies = "\n".join(
            " · ".join(
                part
                for part in (a.substance, a.reaction, a.severity_label, a.certainty_label)
                if part
            )
            for a in summary.allergies
        )
    elif summary.no_known_allergy:
        allergies = _("No known allergy.")
    else:
        allergies = _("Allergies not recorded.")
    treatment = "\n".join(
        f"{m.medication}: {m.dosage}" if m.dosage else m.medication
        for m in summary.medications
        if not m.masked
    )
    result_text = "\n".join(
        f"{_local(r.when, 'd/m/Y')} {r.test}: {r.shown}{' ' + r.unit if r.unit else ''}"
        + (f" ({r.flag})" if r.flag else "")
        for r in sorted(results, key=lambda r: (r.when, r.test))
    )
    return Sections(
        reason=stay.reason,
        course=course,
        results=result_text,
        allergies=allergies,
        treatment=treatment or _("No treatment at discharge."),
        follow_up="",
    )


def stay_results(stay: EncounterView, results: Sequence[ResultLine]) -> list[ResultLine]:
    """The results taken during the stay (from admission to discharge, or to now)."""
    end = stay.discharged_at or timezone.now()
    return [r for r in results if stay.started_at <= r.when <= end]


def _view(letter: DischargeLetter, visible: bool) -> LetterView:
    return LetterView(
        id=str(letter.pk),
        encounter_id=str(letter.encounter_id),
        version=letter.version,
        author=_name(letter.author),
        drafted_at=letter.drafted_at,
        updated_at=letter.updated_at,
        signed_at=letter.signed_at,
        signed_by=_name(letter.signed_by.user) if letter.signed_by else "",
        sent_to=_name(letter.sent_to.user) if letter.sent_to else "",
        category=letter.category,
        category_label=category_label(letter.category) if letter.category else "",
        masked=not visible,
        replaced=hasattr(letter, "replaced_by"),
        sections=Sections(**{name: getattr(letter, name) or "" for name in SECTIONS})
        if visible
        else Sections(),
    )


def _letters_query():
    return DischargeLetter.objects.select_related(
        "author__practitioner", "signed_by__user", "sent_to__user", "replaced_by"
    )


def _visible(
    actor: Actor, patient: Patient, letter: DischargeLetter, opened: frozenset[str] | None = None
) -> bool:
    """Whether the reader sees this letter's sections (a sensitive one outside the author's
    team, not opened with a reason, stays masked)."""
    return may_see(
        actor,
        str(patient.id),
        letter.category,
        letter.author_id,
        letter.author_unit_id,
        opened=opened,
    )


def _letter_row(
    actor: Actor, patient: Patient, letter_id: object, *related: str
) -> tuple[DischargeLetter, bool]:
    """One of this patient's letters and whether the reader sees it; another patient's letter
    answers like none at all."""
    key = parse_patient_id(letter_id)
    query = _letters_query().select_related(*related)
    letter = query.filter(pk=key, patient=patient).first() if key else None
    if letter is None:
        raise Refused("no such letter for this patient", patients=[str(patient.id)])
    return letter, _visible(actor, patient, letter)


def letters_of_stay(*, actor: Actor, patient_id: object, encounter_id: object) -> list[LetterView]:
    """The stay's letters, newest version first; a sensitive one outside the reader's team is
    masked (its sections never opened)."""
    patient = readable_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    encounter = encounter_of(patient, encounter_id)
    opened = open_categories(actor, str(patient.id))
    return [
        _view(letter, _visible(actor, patient, letter, opened))
        for letter in _letters_query().filter(encounter=encounter).order_by("-version")
    ]


@dataclass(frozen=True)
class LetterPage:
    """A letter as its page shows it: the patient's card, the letter, its stay, and why the
    chart takes no more writing ("" when it does)."""

    card: IdentityCard
    letter: LetterView
    stay: EncounterView
    closed: str


def open_letter(*, actor: Actor, patient_id: object, letter_id: object) -> LetterPage:
    """One letter with its stay, without reading the rest of the chart."""
    patient = readable_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    letter, visible = _letter_row(
        actor,
        patient,
        letter_id,
        "encounter__unit",
        "encounter__room",
        "encounter__establishment",
        "encounter__practitioner__practitioner",
    )
    return LetterPage(
        card=identity_card(patient),
        letter=_view(letter, visible),
        stay=encounter_view(letter.encounter),
        closed=closed_because(patient),
    )


def _clean(sections: Sections) -> Sections:
    cleaned = {}
    for name in SECTIONS:
        text = (getattr(sections, name) or "").strip()
        if len(text) > MAX_SECTION:
            raise ValidationError(
                {name: _("At most %(count)d characters here.") % {"count": MAX_SECTION}}
            )
        cleaned[name] = text
    return Sections(**cleaned)


def _required_to_sign(sections: Sections) -> None:
    missing = {
        name: _("Write this before signing.")
        for name in ("reason", "course", "treatment", "follow_up")
        if not getattr(sections, name)
    }
    if missing:
        raise ValidationError(missing)


def save_letter(
    *,
    actor: Actor,
    patient_id: object,
    encounter_id: object,
    sections: Sections,
    category: str = "",
    sign: bool = False,
) -> DischargeLetter:
    """Saves the stay's draft (creating it, or a new version after a signed one), and signs it
    when asked: a signed letter is sent to the treating doctor. Only a practitioner writes and
    signs a letter; the stay must be an admission."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.SIGN_LETTER, patient_id)
        encounter = encounter_of(patient, encounter_id, lock=True)
        if encounter.kind != EncounterKind.ADMISSION:
            raise ValidationError(_("A discharge letter is written for a stay."))
        practitioner = Practitioner.objects.filter(user_id=actor.user_id).first()
        if practitioner is None:
            raise ValidationError(_("Only a practitioner signs a discharge letter."))
        sections = _clean(sections)
        category = clean_category(category)
        now = timezone.now()
        letters = DischargeLetter.objects.select_for_update().filter(encounter=encounter)
        draft = letters.filter(signed_at__isnull=True).first()
        if draft is not None and draft.author_id != actor.user_id:
            raise ValidationError(
                _("%(author)s is writing this letter: ask them, or wait until it is signed.")
                % {"author": _name(draft.author)}
            )
        if draft is None:
            last = letters.order_by("-version").first()
            draft = DischargeLetter(
                patient=patient,
                encounter=encounter,
                establishment_id=encounter.establishment_id,
                author_id=actor.user_id,
                author_unit_id=encounter.unit_id or single_unit(actor),
                version=(last.version + 1) if last else 1,
                replaces=last,
                drafted_at=now,
            )
        draft.category = category
        draft.updated_at = now
        for name, text in sections.as_dict().items():
            setattr(draft, name, text)
        if sign:
            _required_to_sign(sections)
            draft.signed_at = now
            draft.signed_by = practitioner
            doctor = patient.treating_doctor
            draft.sent_to = doctor if doctor and doctor.pk != practitioner.pk else None
        try:
            with transaction.atomic():
                draft.save()
        except IntegrityError:
            raise ValidationError(_("Someone saved this letter at the same moment.")) from None
        ledger_for(actor).reason = (
            f"discharge letter v{draft.version} signed" if sign else "discharge letter draft"
        )
        if sign and draft.sent_to_id:
            user_id = draft.sent_to.user_id
            transaction.on_commit(lambda: _notify(user_id))
    return draft


# Where the treating doctor reads the letters sent to him, on the staff pages.
RECEIVED_PATH = "/lists/letters/"


def _notify(user_id: int) -> None:
    """An e-mail to the treating doctor that a discharge letter waits for him, and where. No
    patient, nothing of the letter."""

    def compose(link: str) -> tuple[str, str]:
        subject = _("[Carnet] A discharge letter for one of your patients")
        body = _(
            "A discharge letter for one of your patients was signed in Carnet. Read it on "
            "your letters page:\n%(link)s\n\nThis message names no patient and carries "
            "nothing of the letter."
        ) % {"link": link}
        return subject, body

    notices.notify(user_id, RECEIVED_PATH, compose)


@dataclass(frozen=True)
class ReceivedLetter:
    id: str
    patient_id: str
    name: str
    establishment: str
    signed_at: datetime.datetime
    signed_by: str
    version: int


RECEIVED_DAYS = 90
RECEIVED_ROWS = 100


def letters_received(*, actor: Actor) -> list[ReceivedLetter]:
    """The signed letters sent to this practitioner as treating doctor in the last
    RECEIVED_DAYS, newest first, for the patients the guard hands over in a care relationship
    (a patient no longer his is left out, not charged)."""
    since = timezone.now() - datetime.timedelta(days=RECEIVED_DAYS)
    letters = list(
        DischargeLetter.objects.filter(
            sent_to__user_id=actor.user_id, signed_at__gte=since, replaced_by__isnull=True
        )
        .select_related("establishment", "signed_by__user")
        .order_by("-signed_at")[:RECEIVED_ROWS]
    )
    if not letters:
        return []
    patients = in_relationship(
        actor, Capability.VIEW_CLINICAL, [str(letter.patient_id) for letter in letters]
    )
    return [
        ReceivedLetter(
            id=str(letter.pk),
            patient_id=str(letter.patient_id),
            name=display_name(patients[str(letter.patient_id)]),
            establishment=letter.establishment.name,
            signed_at=letter.signed_at,  # type: ignore[arg-type]
            signed_by=_name(letter.signed_by.user) if letter.signed_by else "",
            version=letter.version,
        )
        for letter in letters
        if str(letter.patient_id) in patients
    ]


@dataclass(frozen=True)
class LetterSheet:
    """What the printed letter carries: the establishment with its FINESS number, the signing
    practitioner with the RPPS number, the patient, the stay, the treating doctor it goes to,
    the sections and a verification code."""

    letter: LetterView
    establishment: str
    establishment_address: str
    establishment_city: str
    finess: str
    unit: str
    signer: str
    specialty: str
    rpps: str
    patient_name: str
    patient_first_names: str
    birth_date: datetime.date
    admitted_at: datetime.datetime
    discharged_at: datetime.datetime | None
    destination: str
    treating_doctor: str
    code: str


def verification_code(letter: DischargeLetter) -> str:
    """Twelve characters from a keyed digest of what the signed letter says (see
    printouts.verification_code for prescriptions)."""
    content = "|".join(
        [
            str(letter.pk),
            str(letter.version),
            letter.signed_at.isoformat() if letter.signed_at else "",
            letter.signed_by.rpps if letter.signed_by else "",
            letter.establishment.finess,
            str(letter.patient_id),
            *(getattr(letter, name) or "" for name in SECTIONS),
        ]
    )
    return grouped_code("letter-verification", content)


def letter_sheet(*, actor: Actor, patient_id: object, letter_id: object) -> LetterSheet:
    """A signed letter as it is printed; a draft or a masked letter is never printed."""
    patient = readable_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    letter, visible = _letter_row(actor, patient, letter_id, "establishment", "encounter__unit")
    if not visible:
        raise Refused("sensitive letter not opened", patients=[str(patient.id)], not_found=False)
    if letter.signed_at is None or letter.signed_by is None:
        raise ValidationError(_("Only a signed letter is printed."))
    card = identity_card(patient)
    establishment = letter.establishment
    stay = letter.encounter
    return LetterSheet(
        letter=_view(letter, True),
        establishment=establishment.name,
        establishment_address=establishment.address,
        establishment_city=establishment.city,
        finess=establishment.finess,
        unit=stay.unit.name if stay.unit else "",
        signer=_name(letter.signed_by.user),
        specialty=letter.signed_by.specialty,
        rpps=letter.signed_by.rpps,
        patient_name=card.display_surname,
        patient_first_names=card.first_names,
        birth_date=card.birth_date,
        admitted_at=stay.started_at,
        discharged_at=stay.discharged_at,
        destination=stay.get_discharge_destination_display() if stay.discharge_destination else "",
        treating_doctor=_name(letter.sent_to.user) if letter.sent_to else card.treating_doctor,
        code=verification_code(letter),
    )
