from django.apps import AppConfig


class GuardConfig(AppConfig):
    name = "carnet.guard"
    label = "guard"
    verbose_name = "Guard"
