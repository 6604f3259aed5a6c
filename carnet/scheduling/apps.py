from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "carnet.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"
