from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "carnet.staff"
    label = "staff"
    verbose_name = "Staff"

    def ready(self) -> None:
        from carnet.guard.actors import register_resolver

        from . import signals  # noqa: F401
        from .actors import actor_from_request

        register_resolver(actor_from_request)
