"""The FHIR R4 API with SMART on FHIR authorisation (an interface).

It parses FHIR requests, checks the token's SMART scopes (which only narrow what the account's
role allows), calls the domains' selectors and services inside one guarded boundary, and
renders what the guard handed over as validated FHIR resources. It never reads patient models
or opens sealed fields itself.
"""
