"""Sealed model fields: the column holds AES-GCM ciphertext (`<name>_sealed`), the attribute
`<name>` gives and takes plaintext. Values are sealed on save and opened on first read, with
the owner's data key, binding owner, model and field as associated data."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models

from .keys import open_value, seal_value

_PENDING = object()


class _SealedAttribute:
    def __init__(self, field: SealedField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type) -> Any:
        if instance is None:
            return self
        field = self.field
        blob = getattr(instance, field.attname)
        cache = instance.__dict__.setdefault("_sealed_plain", {})
        cached = cache.get(field.name)
        if cached is not None and cached[0] is blob:
            return cached[1]
        if blob is None:
            value = None
        else:
            text = open_value(field.owner_of(instance), field.place, bytes(blob))
            value = field.from_text(text)
        cache[field.name] = (blob, value)
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__.setdefault("_sealed_plain", {})[self.field.name] = (_PENDING, value)
        instance.__dict__[self.field.attname] = _PENDING


class SealedField(models.BinaryField):
    description = "A value sealed with its owner's data key"

    def __init__(self, *args: Any, owner_field: str = "pk", **kwargs: Any) -> None:
        self.owner_field = owner_field
        kwargs.setdefault("null", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple:
        name, path, args, kwargs = super().deconstruct()
        kwargs["owner_field"] = self.owner_field
        kwargs.pop("null", None)
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def get_attname(self) -> str:
        return f"{self.name}_sealed"

    def contribute_to_class(self, cls: type, name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        self.place = f"{cls._meta.label_lower}.{name}"
        setattr(cls, name, _SealedAttribute(self))

    def owner_of(self, instance: models.Model) -> str:
        owner = getattr(instance, self.owner_field)
        cached = instance.__dict__.get("_sealed_owner")
        if cached is None or cached[0] is not owner:
            cached = instance.__dict__["_sealed_owner"] = (owner, str(owner))
        return cached[1]

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        blob = getattr(model_instance, self.attname)
        if blob is _PENDING:
            value = model_instance.__dict__["_sealed_plain"][self.name][1]
            if value is None:
                blob = None
            else:
                blob = seal_value(self.owner_of(model_instance), self.place, self.to_text(value))
            setattr(model_instance, self.attname, blob)
            model_instance.__dict__["_sealed_plain"][self.name] = (blob, value)
        return blob

    def get_default(self) -> Any:
        return None

    def to_text(self, value: Any) -> str:
        return str(value)

    def from_text(self, text: str) -> Any:
        return text


class SealedTextField(SealedField):
    pass


class SealedDateField(SealedField):
    def to_text(self, value: Any) -> str:
        if not isinstance(value, datetime.date):
            raise TypeError(f"{self.place} takes a date")
        return value.isoformat()

    def from_text(self, text: str) -> Any:
        return datetime.date.fromisoformat(text)


class SealedDateTimeField(SealedField):
    """A timezone-aware moment, sealed as its UTC ISO form."""

    def to_text(self, value: Any) -> str:
        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
            raise TypeError(f"{self.place} takes a timezone-aware datetime")
        return value.astimezone(datetime.UTC).isoformat()

    def from_text(self, text: str) -> Any:
        return datetime.datetime.fromisoformat(text)
