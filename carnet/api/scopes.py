"""SMART on FHIR scopes (v2, with the v1 forms read as their v2 equivalents).

A resource scope is `context/Type.permissions`: context `patient` (the patient chosen at
launch), `user` (what the signed-in account may see) or `system` (a backend service acting as
its service account); permissions are letters of `cruds`. A scope only narrows: the guard
still decides, patient by patient, what the account's role and relationships allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

CONTEXTS = ("patient", "user", "system")
PERMISSIONS = "cruds"
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
# Scopes that ask for something other than resources.
LAUNCH_PATIENT = "launch/patient"
OTHER_SCOPES = {
    LAUNCH_PATIENT: gettext_lazy("Choose the patient this app works on, at sign-in"),
    "openid": gettext_lazy("Know who signed in"),
    "fhirUser": gettext_lazy("Know who signed in (as a FHIR resource)"),
    "online_access": gettext_lazy("Keep working while you stay signed in (refresh token)"),
}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)$")
# Interactions and the permission letter each needs.
INTERACTION_LETTER = {
    "read": "r",
    "vread": "r",
    "search": "s",
    "create": "c",
    "update": "u",
    "delete": "d",
}


@dataclass(frozen=True)
class ResourceScope:
    context: str
    resource: str
    permissions: frozenset[str]

    def covers(self, other: ResourceScope) -> bool:
        """Whether this scope grants at least what `other` asks (same context)."""
        return (
            self.context == other.context
            and self.resource in ("*", other.resource)
            and other.permissions <= self.permissions
        )

    def grants(self, resource: str, letter: str) -> bool:
        return self.resource in ("*", resource) and letter in self.permissions


def parse(scope: str) -> ResourceScope | None:
    """A resource scope, or None for anything else (launch, openid...) or a malformed one."""
    match = _SCOPE.match(scope)
    if not match:
        return None
    context, resource, permissions = match.groups()
    letters = V1.get(permissions, permissions)
    if not letters or any(c not in PERMISSIONS for c in letters):
        return None
    # v2 letters come in the order c r u d s, each at most once.
    if permissions not in V1 and "".join(sorted(letters, key=PERMISSIONS.index)) != letters:
        return None
    return ResourceScope(context, resource, frozenset(letters))


def is_known(scope: str) -> bool:
    return scope in OTHER_SCOPES or parse(scope) is not None


def resource_scopes(scopes: Iterable[str]) -> list[ResourceScope]:
    return [s for s in (parse(x) for x in scopes) if s is not None]


def within(requested: Iterable[str], allowed: Iterable[str]) -> bool:
    """Whether every requested scope is granted by one of the allowed scopes."""
    allowed = list(allowed)
    ceiling = resource_scopes(allowed)
    for scope in requested:
        parsed = parse(scope)
        if parsed is None:
            if scope not in OTHER_SCOPES or scope not in allowed:
                return False
        elif not any(a.covers(parsed) for a in ceiling):
            return False
    return True


def access_for(scopes: Iterable[str], resource: str, interaction: str) -> str | None:
    """The widest context in which these scopes allow the interaction on the resource type:
    "user" or "system" (whatever the account may see), "patient" (the launch patient only),
    or None (not allowed)."""
    letter = INTERACTION_LETTER[interaction]
    granted = {s.context for s in resource_scopes(scopes) if s.grants(resource, letter)}
    for context in ("system", "user", "patient"):
        if context in granted:
            return context
    return None


def describe(scope: str) -> str:
    if scope in OTHER_SCOPES:
        return str(OTHER_SCOPES[scope])
    parsed = parse(scope)
    if parsed is None:
        return scope
    verbs = {"c": _("create"), "r": _("read"), "u": _("update"), "d": _("delete"), "s": _("search")}
    what = _("all resources") if parsed.resource == "*" else parsed.resource
    whose = {
        "patient": _("of the patient chosen at sign-in"),
        "user": _("that your account may see"),
        "system": _("that the service account may see"),
    }[parsed.context]
    done = ", ".join(verbs[c] for c in PERMISSIONS if c in parsed.permissions)
    return _("%(done)s: %(what)s %(whose)s") % {"done": done, "what": what, "whose": whose}
