from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "carnet.api"
    label = "api"
    verbose_name = "FHIR API"

    def ready(self) -> None:
        from carnet.guard.containment import on_containment

        from .tokens import revoke_account

        # A contained account loses its API tokens in the same transaction as its sessions.
        on_containment(revoke_account)
