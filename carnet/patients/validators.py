"""Validation of identity values: NIR (with its key, Corsica 2A/2B), INSEE birthplace code,
names, phone numbers, postal codes. Each error says what to fix."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import InvalidChecksum
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import nir as stdnum_nir

NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")
BIRTHPLACE_RE = re.compile(r"^(?:\d{2}|2A|2B)\d{3}$")
POSTAL_CODE_RE = re.compile(r"^\d{5}$")


def clean_nir(value: str) -> str:
    """NIR (numéro d'inscription au répertoire, the social security number): 13 characters
    and a 2-digit key. Returns it compact, upper case."""
    compact = stdnum_nir.compact(value or "").upper()
    try:
        return stdnum_nir.validate(compact)
    except InvalidChecksum:
        raise ValidationError(
            _("The NIR key (last 2 digits) does not match: please check the number."),
            code="checksum",
        ) from None
    except StdnumError:
        raise ValidationError(
            _("A NIR has 13 characters and a 2-digit key, e.g. 1 85 12 2A 012 345 94."),
            code="format",
        ) from None


def clean_name(value: str) -> str:
    value = " ".join(value.split())
    if value and not NAME_RE.match(value):
        raise ValidationError(_("Use letters, spaces, hyphens and apostrophes only."), code="name")
    return value


def clean_birthplace(value: str) -> str:
    """INSEE code of the birthplace: département (2 digits, 2A or 2B) and commune (3 digits);
    99 and a country code for people born abroad."""
    value = value.strip().upper()
    if value and not BIRTHPLACE_RE.match(value):
        raise ValidationError(
            _("An INSEE birthplace code has 5 characters, e.g. 75056 or 2A004 (99xxx abroad)."),
            code="birthplace",
        )
    return value


def clean_postal_code(value: str) -> str:
    value = value.strip()
    if value and not POSTAL_CODE_RE.match(value):
        raise ValidationError(_("A postal code has 5 digits."), code="postal_code")
    return value


def clean_phone(value: str) -> str:
    """Returns the number in international form (+33…)."""
    digits = re.sub(r"[\s.\-()]", "", value or "")
    if not digits:
        return ""
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return "+33" + digits[1:]
    if re.fullmatch(r"\+33[1-9]\d{8}", digits):
        return digits
    if re.fullmatch(r"\+(?!33)[1-9]\d{6,14}", digits):
        return digits
    raise ValidationError(
        _("Enter a French number (06 12 34 56 78) or an international one (+44…)."),
        code="phone",
    )
