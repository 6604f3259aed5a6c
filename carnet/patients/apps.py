from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "carnet.patients"
    label = "patients"
    verbose_name = "Patients"
