"""The guard: the one door every read or write of patient data goes through.

It decides (role, establishment and, later, care relationships), counts the patients whose
identifying data leaves, admits them into the vault's opening scope, and hands every decision
to the audit log. It denies by default: an action or a route with no rule is closed. It never
imports a domain or an interface; domains tell it about their subjects.
"""
