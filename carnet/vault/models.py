"""Data keys: one random AES-256 key per owner (a patient), stored only wrapped by a
key-encryption key that lives outside the database; and the progress of key rotations."""

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


class RotationKind(models.TextChoices):
    KEK = "kek", "key-encryption key"
    INDEX = "index", "blind-index key"


class RotationState(models.Model):
    """One row per kind of rotation: where it goes, how far it got. A re-index resumes after
    `cursor` (the last owner id it finished, committed with that batch); a key-encryption key
    rotation needs no cursor (each data key's `kek_version` says what is left) and keeps
    counts here for `carnet keys status`."""

    kind = models.CharField(max_length=8, choices=RotationKind.choices, unique=True)
    from_version = models.PositiveSmallIntegerField()
    to_version = models.PositiveSmallIntegerField()
    cursor = models.CharField(max_length=64, blank=True)
    done = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} rotation v{self.from_version} -> v{self.to_version}"
