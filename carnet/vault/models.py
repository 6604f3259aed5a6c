"""Data keys: one random AES-256 key per owner (a patient), stored only wrapped by a
key-encryption key that lives outside the database."""

from django.db import models


class DataKey(models.Model):
    owner = models.UUIDField(primary_key=True)
    wrapped = models.BinaryField(null=True)
    kek_version = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kek_version"], name="vault_datakey_kek_version")]

    def __str__(self) -> str:
        return f"DataKey({self.owner}, v{self.kek_version})"
