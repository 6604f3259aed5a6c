from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "carnet.clinical"
    label = "clinical"
    verbose_name = "Clinical record"
