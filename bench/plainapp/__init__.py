"""A plain Django copy of the identity page, for comparison only: the same values stored
unencrypted in ordinary columns, read by an ordinary view, rendered with the same template."""
