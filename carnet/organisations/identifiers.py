"""French identifiers with a Luhn key: FINESS (establishments, 9 digits) and RPPS
(health professionals, 11 digits). Both validators give a message a person can act on."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum import luhn


def _check_luhn_number(value: str, length: int, label: str) -> str:
    digits = "".join(str(value).split())
    if not digits.isdigit() or len(digits) != length:
        raise ValidationError(
            _("%(label)s must be %(length)d digits."),
            code="format",
            params={"label": label, "length": length},
        )
    if not luhn.is_valid(digits):
        raise ValidationError(
            _("%(label)s check digit is wrong: please check the number."),
            code="checksum",
            params={"label": label},
        )
    return digits


def validate_finess(value: str) -> str:
    """FINESS: Fichier national des établissements sanitaires et sociaux number."""
    return _check_luhn_number(value, 9, "FINESS")


def validate_rpps(value: str) -> str:
    """RPPS: Répertoire partagé des professionnels de santé number."""
    return _check_luhn_number(value, 11, "RPPS")


def with_luhn_key(prefix: str) -> str:
    """Completes `prefix` with its Luhn check digit (for generating test and demo numbers)."""
    return prefix + luhn.calc_check_digit(prefix)
