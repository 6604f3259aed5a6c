"""French identifiers: FINESS and RPPS (Luhn), NIR (key, Corsica), INSEE birthplace, phone."""

import pytest
from django.core.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir

from carnet.organisations.identifiers import validate_finess, validate_rpps, with_luhn_key
from carnet.patients.validators import clean_birthplace, clean_name, clean_nir, clean_phone


def test_finess_and_rpps_keys():
    finess = with_luhn_key("69000001")
    assert validate_finess(finess) == finess
    rpps = with_luhn_key("1000012345")
    assert validate_rpps(rpps) == rpps
    with pytest.raises(ValidationError, match="check digit"):
        validate_finess(finess[:-1] + str((int(finess[-1]) + 1) % 10))
    with pytest.raises(ValidationError, match="11 digits"):
        validate_rpps("12345")
    with pytest.raises(ValidationError):
        validate_finess("69A000001")


@pytest.mark.parametrize("department", ["2A", "2B", "75", "99"])
def test_nir_keys_including_corsica(department):
    body = f"18512{department}012345"
    nir = body + stdnum_nir.calc_check_digits(body)
    assert clean_nir(stdnum_nir.format(nir).lower()) == nir
    with pytest.raises(ValidationError):
        clean_nir(body + "00" if not nir.endswith("00") else body + "01")


def test_birthplace_names_and_phones():
    assert clean_birthplace("2a004") == "2A004"
    assert clean_birthplace("99350") == "99350"
    with pytest.raises(ValidationError):
        clean_birthplace("2C004")
    assert clean_name("  Jean   Pierre ") == "Jean Pierre"
    assert clean_name("N'Diaye-Lefèvre") == "N'Diaye-Lefèvre"
    with pytest.raises(ValidationError):
        clean_name("R2D2")
    assert clean_phone("06 12 34 56 78") == "+33612345678"
    assert clean_phone("+33 4.72.00.00.00") == "+33472000000"
    assert clean_phone("+44 20 7946 0958") == "+442079460958"
    with pytest.raises(ValidationError):
        clean_phone("0012")
