"""French identifier systems as the FR Core profiles (Interop'Santé) name them, and Carnet's
own. The national OIDs carry a prefixed value: IDNPS is "8" + RPPS for a practitioner in the
RPPS, IDNST is "1" + FINESS for an establishment; the plain numbers have their own systems."""

from __future__ import annotations

from django.conf import settings

FR_CORE = "https://hl7.fr/ig/fhir/core"
FR_V2_0203 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

# Patient.
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"  # INS-NIR: only for a qualified identity
PROFILE_PATIENT = f"{FR_CORE}/StructureDefinition/fr-core-patient"
IDENTITY_RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
IDENTITY_STATUS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
BIRTH_LIST_GIVEN_NAME = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
INSEE_COMMUNES = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"

# Practitioner.
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
IDNPS_RPPS_PREFIX = "8"
RPPS = "https://rpps.esante.gouv.fr"
PROFILE_PRACTITIONER = f"{FR_CORE}/StructureDefinition/fr-core-practitioner"

# Organization.
IDNST = "urn:oid:1.2.250.1.71.4.2.2"
IDNST_FINESS_PREFIX = "1"
FINESS = "https://finess.esante.gouv.fr"
PROFILE_ORGANIZATION = f"{FR_CORE}/StructureDefinition/fr-core-organization"

# Carnet's own.
ACCOUNT = "urn:carnet:account"
ACTION = "urn:carnet:audit-action"
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}


def ipp_system(finess: str) -> str:
    """The IPP (patient number of one establishment) has one system per establishment."""
    return settings.CARNET_FHIR_IPP_SYSTEM.format(finess=finess)


def finess_of_ipp_system(system: str) -> str | None:
    template = settings.CARNET_FHIR_IPP_SYSTEM
    head, _, tail = template.partition("{finess}")
    if system.startswith(head) and system.endswith(tail):
        value = system[len(head) : len(system) - len(tail) if tail else None]
        return value if value.isdigit() and len(value) == 9 else None
    return None


def coding(system: str, code: str, display: str = "") -> dict[str, str]:
    found = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def typed(code: str, *, fr: bool = True) -> dict:
    return {"coding": [coding(FR_V2_0203 if fr else V2_0203, code)]}
