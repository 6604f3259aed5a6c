from django.apps import AppConfig


class LaboratoryConfig(AppConfig):
    name = "carnet.laboratory"
    label = "laboratory"
    verbose_name = "Laboratory"
