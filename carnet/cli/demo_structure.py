"""The demo group: three establishments with units and rooms, and one account per role."""

from __future__ import annotations

from dataclasses import dataclass

from carnet.guard.policy import Role
from carnet.organisations.identifiers import with_luhn_key
from carnet.organisations.models import Establishment, Group, Unit
from carnet.organisations.services import create_establishment
from carnet.scheduling.models import WaitingRoom
from carnet.scheduling.setup import AROUND_THE_CLOCK, create_agenda
from carnet.staff.models import Practitioner
from carnet.staff.services import create_account

DEMO_PATIENT_EMAIL = "patient@carnet.demo"
DEMO_PASSWORD = "carnet-demo-2026"  # noqa: S105 - printed on purpose: demo accounts only
# The hospital's emergency department sees patients at every hour: whenever the demo starts,
# its desk has appointments to come and a queue to call (see demo_day.py).
AROUND_THE_CLOCK_AGENDA = "Urgences — soins non programmés"

ESTABLISHMENTS = [
    ("Hôpital Saint-Luc", "hospital", "Lyon", "6900001", "12 quai Claude-Bernard, 69007", {
        "Cardiologie": ["Box 1", "Box 2", "Salle d'écho"],
        "Médecine interne": ["Consultation 1", "Consultation 2"],
        "Urgences": ["Accueil", "Box A", "Box B"],
    }),
    ("Clinique des Tilleuls", "clinic", "Villeurbanne", "6900002", "40 cours Émile-Zola, 69100", {
        "Consultations": ["Cabinet 1", "Cabinet 2", "Cabinet 3"],
        "Chirurgie ambulatoire": ["Salle de réveil"],
    }),
    ("Laboratoire Confluence", "laboratory", "Lyon", "6900003", "5 place Nautique, 69002", {
        "Biologie médicale": ["Prélèvements 1", "Prélèvements 2"],
    }),
]  # fmt: skip


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    first_name: str
    last_name: str
    establishments: tuple[int, ...]  # indexes into ESTABLISHMENTS
    unit: str = ""
    rpps_body: str = ""
    specialty: str = ""
    # What this account shows in the demo (printed with the sign-ins).
    shows: str = ""


ACCOUNTS = [
    DemoAccount("dr.martin", Role.PRACTITIONER, "Claire", "Martin", (0,), "Cardiologie", "1000012345", "Cardiologie",
                "her agenda's patients in care: notes, prescriptions, PDFs, lab results and trends; "
                "admitted patients; dr.bernard's psychiatry notes masked"),
    DemoAccount("dr.bernard", Role.PRACTITIONER, "Hugo", "Bernard", (0,), "Médecine interne", "1000023456", "Médecine interne",
                "his patients, with psychiatry notes and serologies that only his team sees"),
    DemoAccount("dr.petit", Role.PRACTITIONER, "Inès", "Petit", (1,), "Consultations", "1000034567", "Médecine générale",
                "general practice at the clinic: consultations, prescriptions, lab results"),
    DemoAccount("inf.dubois", Role.NURSE, "Sophie", "Dubois", (0,), "Cardiologie",
                shows="the charts of Cardiologie's admitted patients (find them by name, below)"),
    DemoAccount("sec.moreau", Role.SECRETARY, "Julie", "Moreau", (0,),
                shows="the desk: agendas by day and week, identities, insurance cards; no chart"),
    DemoAccount("sec.laurent", Role.SECRETARY, "Nicolas", "Laurent", (1,),
                shows="the clinic's desk, likewise"),
    DemoAccount("lab.garnier", Role.LAB_TECHNICIAN, "Karim", "Garnier", (2,), "Biologie médicale",
                shows="the laboratory's worklist: to collect, to enter, to validate"),
    DemoAccount("lab.mercier", Role.LAB_TECHNICIAN, "Amina", "Mercier", (2,), "Biologie médicale",
                shows="the same worklist: validates what lab.garnier entered, and the reverse"),
    DemoAccount("admin.roux", Role.ADMINISTRATOR, "Marc", "Roux", (0, 1, 2),
                shows="accounts (changes wait for a security officer); opens no patient"),
    DemoAccount("rssi.fournier", Role.SECURITY_OFFICER, "Léa", "Fournier", (0, 1, 2),
                shows="the security console and the audit log (the seeding's acts are in it)"),
]  # fmt: skip


def build_structure(
    group_name: str = "Groupe hospitalier Rhône Confluence (démo)",
) -> list[Establishment]:
    group = Group.objects.create(name=group_name)
    establishments = [
        create_establishment(
            group=group,
            name=name,
            kind=kind,
            city=city,
            address=address,
            finess=with_luhn_key(f"{body}1"[:8]),
            units=units,
        )
        for name, kind, city, body, address, units in ESTABLISHMENTS
    ]
    for account in ACCOUNTS:
        chosen = [establishments[i] for i in account.establishments]
        unit = (
            Unit.objects.filter(establishment=chosen[0], name=account.unit).first()
            if account.unit
            else None
        )
        create_account(
            username=account.username,
            password=DEMO_PASSWORD,
            role=account.role,
            first_name=account.first_name,
            last_name=account.last_name,
            establishments=chosen,
            unit=unit,
            rpps=with_luhn_key(account.rpps_body) if account.rpps_body else "",
            specialty=account.specialty,
            email=f"{account.username}@carnet-demo.example.fr",
            # The demo's accounts are set up by the installation itself, approved.
            approved=True,
        )
    _agendas(establishments)
    return establishments


def _agendas(establishments: list[Establishment]) -> None:
    """One agenda per practitioner, a sampling desk at the laboratory, the emergency
    department's agenda open all day, a waiting room each."""
    for establishment in establishments:
        WaitingRoom.objects.create(
            establishment=establishment, name=f"Accueil — {establishment.name}"
        )
    for practitioner in Practitioner.objects.select_related("user"):
        home = practitioner.user.memberships.first().establishment
        create_agenda(
            establishment=home,
            name=f"Dr {practitioner.user.get_full_name()} — {practitioner.specialty}",
            practitioner=practitioner,
            types=(("Consultation", 20, True), ("Première consultation", 40, False)),
        )
    create_agenda(
        establishment=establishments[2],
        name="Prélèvements",
        types=(("Prise de sang", 10, True),),
    )
    agenda = create_agenda(
        establishment=establishments[0],
        name=AROUND_THE_CLOCK_AGENDA,
        hours=AROUND_THE_CLOCK,
        types=(("Consultation non programmée", 15, False),),
    )
    agenda.unit = Unit.objects.get(establishment=establishments[0], name="Urgences")
    agenda.save(update_fields=["unit"])
