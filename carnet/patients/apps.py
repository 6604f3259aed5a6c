from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "carnet.patients"
    label = "patients"
    verbose_name = "Patients"

    def ready(self) -> None:
        from .death import dates_of_death
        from .retention import register_death_source

        # Retention keeps a record 10 years after an early death: it learns deaths here.
        register_death_source(dates_of_death)
