"""Sending a chosen part of a record to a practitioner outside the group: scoped, expiring,
revocable, opened with a code sent by a second channel, every opening logged."""
