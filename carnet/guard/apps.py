from django.apps import AppConfig


class GuardConfig(AppConfig):
    name = "carnet.guard"
    label = "guard"
    verbose_name = "Guard"

    def ready(self) -> None:
        from . import break_glass, signals  # noqa: F401
