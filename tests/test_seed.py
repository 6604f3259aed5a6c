"""Demo data: valid French identifiers, reproducible with --seed, sealed like real data (the
clinical record seeded on top of it: tests/test_demo.py)."""

import pytest
from django.core.management import CommandError, call_command
from stdnum.fr import nir as stdnum_nir

from carnet.cli.synthetic import identities, make_pools
from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.organisations.identifiers import validate_finess, validate_rpps
from carnet.organisations.models import Establishment
from carnet.patients.models import Patient
from carnet.patients.selectors import SearchQuery, search_identities
from carnet.staff.models import Practitioner, User


def test_the_generator_is_reproducible_and_valid():
    pools = make_pools(5, size=300)
    first = list(
        identities(300, seed=5, establishment_ids=[1, 2], practitioner_ids=[], pools=pools)
    )
    again = list(
        identities(300, seed=5, establishment_ids=[1, 2], practitioner_ids=[], pools=pools)
    )
    other = list(
        identities(300, seed=6, establishment_ids=[1, 2], practitioner_ids=[], pools=pools)
    )
    assert first == again and first != other
    nirs = [r["nir"] for r in first if r["nir"]]
    assert len(nirs) > 150 and all(stdnum_nir.is_valid(n) for n in nirs)
    assert any(n[5:7] in ("2A", "2B") for n in nirs) or any(
        r["birthplace_code"][:2] in ("2A", "2B") for r in first
    )
    assert all(r["status"] == "provisional" or r["nir"] for r in first)
    duplicates = [r for r in first if r["status"] == "provisional" and not r["nir"]]
    assert duplicates


@pytest.mark.django_db
def test_seed_builds_a_group_and_sealed_patients(capsys):
    call_command("seed", patients=150, seed=11, no_progress=True, no_clinical=True)
    assert "150 patients sealed and indexed" in capsys.readouterr().out
    assert Patient.objects.count() == 150
    assert set(User.objects.values_list("role", flat=True)) >= set(Role.values) - {
        Role.PATIENT,
        Role.SCREEN,
    }
    for establishment in Establishment.objects.all():
        validate_finess(establishment.finess)
    for practitioner in Practitioner.objects.all():
        validate_rpps(practitioner.rpps)
    with pytest.raises(CommandError, match="already seeded"):
        call_command("seed", patients=1, no_progress=True)
    # The seeded identities open through the guard like any other.
    actor = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset(Establishment.objects.values_list("pk", flat=True)),
    )
    sample = Patient.objects.exclude(bi_nir=None).first()
    assert sample.birth_surname_sealed is not None
    with boundary(actor, "tests.search"):
        patient = Patient.objects.get(pk=sample.pk)
        rows = search_identities(actor=actor, query=SearchQuery(ipp="00000001")).rows
    assert rows and patient.bi_birth_date is not None


@pytest.mark.django_db
def test_seeded_agendas_never_hold_a_canary():
    """A canary on a day sheet would lock the first secretary who opens the day (the
    clinical record seeded from the agendas is checked in tests/test_demo.py)."""
    from carnet.guard.canaries import is_canary
    from carnet.scheduling.models import Appointment

    call_command("seed", patients=1200, seed=11, no_progress=True, no_clinical=True)
    marks = dict(Patient.objects.values_list("id", "mark"))
    canaries = {str(p) for p, mark in marks.items() if is_canary(str(p), mark)}
    booked = {str(p) for p in Appointment.objects.values_list("patient_id", flat=True)}
    assert canaries and booked
    assert not canaries & booked
