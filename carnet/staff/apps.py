from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "carnet.staff"
    label = "staff"
    verbose_name = "Staff"

    def ready(self) -> None:
        from carnet.guard.actors import register_resolver, register_second_factor

        from . import signals  # noqa: F401
        from .actors import actor_from_request
        from .second_factor import verify_for_account
        from .services import register_appliers

        register_resolver(actor_from_request)
        register_appliers()
        register_second_factor(verify_for_account)
