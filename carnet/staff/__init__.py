"""Staff: accounts, roles, practitioners (RPPS), memberships in establishments and units,
and the second factor. Turns a signed-in user into the guard's Actor."""
