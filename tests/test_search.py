"""Search without plaintext: blind-index candidates, opened and filtered in the application;
specific enough or refused; capped; only the rows shown count as exposed."""

import datetime

import pytest
from django.utils import translation
from stdnum.fr import nir as stdnum_nir

from carnet.audit.models import AuditEntry
from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.patients import search_keys
from carnet.patients.selectors import MAX_RESULTS, SearchQuery, search_identities
from carnet.vault.blind import normalise

from .factories import make_patient

pytestmark = pytest.mark.django_db
DAY = datetime.date(1975, 3, 9)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _search(establishment, request_id="search-1", **criteria):
    actor = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
        request_id=request_id,
    )
    with boundary(actor, "patients.search"):
        return search_identities(actor=actor, query=SearchQuery(**criteria))


def _nir(sex_digit: str, day: datetime.date, order: int) -> str:
    body = f"{sex_digit}{day:%y%m}69123{order:03d}"
    return body + stdnum_nir.calc_check_digits(body)


def test_normalisation_folds_case_accents_and_punctuation():
    assert normalise("Le Gall-Hervé") == "LEGALLHERVE"
    assert normalise("d'Aubigné ") == "DAUBIGNE"
    assert normalise("1 85 12 2A 012") == "185122A012"


def test_blind_indexes_are_truncated_to_their_width():
    assert 0 <= search_keys.prefix_key("DUPONT") < 2**search_keys.PREFIX_BITS
    assert 0 <= search_keys.birth_date_key(DAY) < 2**search_keys.BIRTH_DATE_BITS
    assert 0 <= search_keys.nir_key("185122A01234594") < 2**search_keys.NIR_BITS
    assert search_keys.prefix_key("Dupont") == search_keys.prefix_key("DUPUIS")


def test_prefix_and_birth_date_find_birth_and_used_surnames(establishment):
    born = make_patient(establishment, birth_surname="LEFÈVRE", birth_date=DAY)
    married = make_patient(
        establishment, birth_surname="MOREAU", used_surname="LEFORT", birth_date=DAY
    )
    make_patient(
        establishment, birth_surname="LEFÈVRE", birth_date=DAY + datetime.timedelta(days=1)
    )
    outcome = _search(establishment, surname="lef", birth_date=DAY)
    assert {row.id for row in outcome.rows} == {born, married}
    assert {row.id for row in _search(establishment, surname="Lefevre", birth_date=DAY).rows} == {
        born
    }


@pytest.mark.parametrize(
    "criteria",
    [
        {},
        {"surname": "LE", "birth_date": DAY},
        {"surname": "LEFEVRE"},
        {"birth_date": DAY},
        {"surname": "L'É-", "birth_date": DAY},
    ],
)
def test_vague_searches_are_refused_with_a_message(establishment, criteria):
    make_patient(establishment, birth_surname="LEFEVRE", birth_date=DAY)
    outcome = _search(establishment, **criteria)
    assert outcome.rows == () and "at least 3 letters" in outcome.problem
    assert AuditEntry.objects.get(request_id="search-1").patient_count == 0


def test_nir_and_ipp_find_one_person(establishment):
    nir = _nir("2", DAY, 42)
    patient = make_patient(establishment, nir=nir, status="qualified", birth_date=DAY)
    assert [r.id for r in _search(establishment, nir=stdnum_nir.format(nir)).rows] == [patient]
    ipp = _search(establishment, nir=nir).rows[0].ipp
    assert [r.id for r in _search(establishment, ipp=ipp).rows] == [patient]
    assert "key" in _search(establishment, nir=nir[:-2] + "00").problem


def test_patients_of_other_establishments_are_not_found(establishment, other_establishment):
    make_patient(other_establishment, birth_surname="AILLEURS", birth_date=DAY)
    assert _search(establishment, surname="AIL", birth_date=DAY).rows == ()


def test_results_are_capped_and_only_shown_rows_count(establishment):
    for n in range(MAX_RESULTS + 5):
        make_patient(establishment, birth_surname=f"DUPONT{chr(65 + n)}", birth_date=DAY)
    outcome = _search(establishment, surname="DUPONT", birth_date=DAY)
    assert len(outcome.rows) == MAX_RESULTS and outcome.more
    entry = AuditEntry.objects.get(request_id="search-1")
    assert entry.patient_count == MAX_RESULTS == len(entry.patients.split())


def test_candidates_that_do_not_match_are_never_exposed(establishment):
    wanted = make_patient(establishment, birth_surname="DUPONT", birth_date=DAY)
    # Same birth date and same 3-letter prefix: the same blind-index bucket, opened to be
    # compared, then withdrawn without leaving.
    make_patient(establishment, birth_surname="DUPUIS", birth_date=DAY)
    outcome = _search(establishment, surname="DUPON", birth_date=DAY)
    assert [r.id for r in outcome.rows] == [wanted]
    assert AuditEntry.objects.get(request_id="search-1").patients == f"{wanted}:outside"
